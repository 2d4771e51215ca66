/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mbedtls_config.h - xmpp-edge's own mbedTLS 3.6 configuration.
 *
 * Passed to mbedTLS as MBEDTLS_CONFIG_FILE when build.sh builds the library
 * and when the project compiles against it, so both agree.  Everything is
 * off unless switched on here, each group with the reason it is needed:
 *
 *  - TLS 1.2 and 1.3 only (RFC 7590: XMPP over TLS; no SSL3/TLS1.0/1.1,
 *    no renegotiation, no DTLS, no CBC, no static RSA key exchange).
 *  - AEAD suites only: AES-GCM and ChaCha20-Poly1305; ECDHE over X25519
 *    and P-256 (P-384 only for verifying the signatures of certificate
 *    chains that use it, which public CAs do).
 *  - ECDSA and RSA certificates (RSA-PSS for TLS 1.3 signatures).
 *  - X.509 writing + PEM + PK write: the embedded default configuration
 *    creates a self-signed certificate on first start.
 *  - HKDF/HMAC-SHA256: dialback keys (XEP-0185) and session tickets.
 *  - Variable buffer length / max fragment length: keep idle connections
 *    small (issue: <= 32 KiB heap per idle TLS connection).
 *  - Speed (issue 18, tests/bench/run_handshake.sh): Everest X25519 and
 *    no PSA buffer copies.  The static comb table for the P-256 base
 *    point is built in (MBEDTLS_ECP_FIXED_POINT_OPTIM, default); a larger
 *    MBEDTLS_ECP_WINDOW_SIZE changes nothing for 256-bit curves (mbedTLS
 *    picks w = 4, 5 for the base point, both within the default).  AES-NI
 *    and PCLMUL are found at run time (MBEDTLS_AESNI_C; build.sh compiles
 *    mbedTLS with -maes -mpclmul, which only selects its intrinsics code,
 *    still behind its CPUID check), so the library is built for baseline
 *    x86-64 and runs on any CPU.
 *  - AES-GCM through xmpp-edge's PSA accelerator driver (block below).
 */
#ifndef XMPP_EDGE_MBEDTLS_CONFIG_H
#define XMPP_EDGE_MBEDTLS_CONFIG_H

/* --- platform ----------------------------------------------------------- */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE          /* certificate validity periods */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_FS_IO                   /* CA bundle, cert and key files */
#define MBEDTLS_ERROR_C                 /* mbedtls_strerror for log lines */
#define MBEDTLS_VERSION_C               /* `xmpp-edge version` */
#define MBEDTLS_PLATFORM_MEMORY         /* mbedtls_platform_set_calloc_free:
                                           the memory test counts the heap
                                           an idle TLS connection holds
                                           (tls/MEMORY.md); default is
                                           still libc calloc/free */


/* --- randomness ---------------------------------------------------------- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_HMAC_DRBG_C             /* deterministic ECDSA (RFC 6979),
                                           when PSA is asked for it */

/* --- symmetric: AEAD only ------------------------------------------------ */
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C                 /* AES-NI on x86_64 */
#define MBEDTLS_AESCE_C                 /* and the ARMv8 equivalent */
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C

/* --- hashes, MAC, KDF ---------------------------------------------------- */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA224_C                /* required alongside SHA-256 */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C                /* TLS_AES_256_GCM_SHA384 */
#define MBEDTLS_SHA512_C
#define MBEDTLS_SHA1_C                  /* only TLS 1.2 signature_algorithms
                                           negotiation / OCSP-less chains
                                           signed long ago; never for new
                                           signatures */
#define MBEDTLS_HKDF_C                  /* dialback key derivation, TLS 1.3 */

/* --- public key ---------------------------------------------------------- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_C
/* X25519 shared secrets through Everest (HACL*, formally verified, constant
 * time) instead of the generic Montgomery ladder on mbedtls_mpi: the
 * ladder with its allocations was the largest part of an X25519
 * handshake's bignum time (issue 18).  3rdparty/everest is Apache-2.0
 * only (not the library's dual Apache-2.0/GPL-2.0), which the project's
 * Apache-2.0 licence allows; build.sh folds it into libmbedcrypto.a.
 * PSA's X25519 public-key export (the TLS 1.3 key share) and key agreement
 * reach HACL* through xmpp-edge's driver (XE_PSA_X25519_DRIVER_ENABLED
 * below); without it PSA computed the key share with the generic ladder. */
#define MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED
#define MBEDTLS_ECDSA_C
/* MBEDTLS_ECDSA_DETERMINISTIC (RFC 6979) is off: with it mbedTLS's pk layer
 * asks PSA for deterministic ECDSA, which the P-256 driver (below) leaves
 * to the built-in, and every CertificateVerify would be signed on the
 * generic bignum code.
 * Randomised ECDSA draws k from the PSA RNG (CTR_DRBG over the OS entropy
 * source), as OpenSSL does for its TLS signatures. */
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21               /* RSA-PSS, mandatory in TLS 1.3 */
#define MBEDTLS_GENPRIME                /* RSA key generation (cert CLI) */
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C              /* writing the generated key */
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C                /* PEM, SPKI pins */
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PEM_WRITE_C

/* --- PSA crypto (TLS 1.3 is built on it in mbedTLS 3.6) ------------------- */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_USE_PSA_CRYPTO
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC   /* every TLS connection holds PSA keys
                                           (record protection); the static
                                           store has 32 slots, i.e. a dozen
                                           connections */
/* Without it PSA copies every input and output buffer before use and
 * wipes and frees the copies (mbedTLS 3.6's defence for buffers shared
 * with an untrusted caller, e.g. a secure-element client): per TLS record
 * an 8 KiB calloc + memcpy + memset + free, per handshake signature the
 * same; the largest single item of a handshake's profile.  Every PSA
 * buffer here is the process's own memory, which is what the option
 * requires. */
#define MBEDTLS_PSA_ASSUME_EXCLUSIVE_BUFFERS

/* --- AES-GCM accelerator (issue 18, relay CPU per MB) ---------------------
 * xmpp-edge's own PSA transparent driver, tls/psa_driver/gcm_driver.c:
 * AES-GCM with eight AES-NI blocks in flight and GHASH aggregated over
 * eight blocks with PCLMULQDQ (one reduction per 128 bytes), where
 * mbedTLS's gcm.c does one block per call.  TLS record protection goes
 * through psa_aead_encrypt/decrypt, which deps/patches/mbedtls-gcm-driver.patch
 * makes try the driver first; it declines (and the built-in GCM runs) on a
 * CPU without AES-NI/PCLMULQDQ/SSE4.1, for AES-192 and for anything
 * invalid.  build.sh compiles it into libmbedcrypto. */
#define XE_PSA_GCM_DRIVER_ENABLED

/* --- X25519 through HACL* (issue 18, handshake CPU) ----------------------
 * xmpp-edge's PSA transparent driver tls/psa_driver/x25519_driver.c: the
 * key share export (d*G) and the key agreement of an X25519 key pair with
 * Everest's Hacl_Curve25519_crypto_scalarmult (compiled in by
 * MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED), where PSA's built-in ran
 * ecp.c's generic Montgomery ladder on mbedtls_mpi for the export and
 * loaded both keys into mbedtls_ecp_keypair structures for the agreement.
 * deps/patches/mbedtls-x25519-driver.patch makes the PSA dispatch try it
 * first; it declines (and the built-in runs) for anything else. */
#define XE_PSA_X25519_DRIVER_ENABLED

/* --- P-256 (issue 18, handshake CPU) -------------------------------------
 * xmpp-edge's PSA transparent driver tls/psa_driver/p256_driver.c: key
 * generation, the key share export (d*G, from a precomputed table of the
 * generator), ECDH and randomised ECDSA signing on secp256r1 with
 * fixed-size 64-bit Montgomery arithmetic and complete formulas, where the
 * built-in used the generic bignum ECP.  deps/patches/mbedtls-p256-driver.
 * patch makes the PSA dispatch try it first; it declines (and the built-in
 * runs, with its own error codes) for anything else: other curves,
 * deterministic ECDSA, key import, verification, every peer key it refuses.
 * mbedTLS's own p256-m (MBEDTLS_PSA_P256M_DRIVER_ENABLED) was measured and
 * is slower here (tests/bench/RESULTS.md, "P-256 driver"). */
#define XE_PSA_P256_DRIVER_ENABLED

/* --- X.509 --------------------------------------------------------------- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT
#define MBEDTLS_X509_CREATE_C
#define MBEDTLS_X509_CRT_WRITE_C        /* self-signed default certificate */
#define MBEDTLS_X509_CSR_WRITE_C        /* `cert csr` for operators */

/* --- TLS ----------------------------------------------------------------- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED /* tickets */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ALPN                /* XEP-0368 Direct TLS: xmpp-server */
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_TICKET_C
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH
/* Record buffers.  Input stays at the protocol maximum (16 KiB): a TLS 1.3
 * peer may send full records and mbedTLS 3.6 cannot negotiate smaller ones
 * in 1.3.  Output is ours to choose: 8 KiB records cost nothing in
 * throughput and save 8 KiB per connection (tls/MEMORY.md).  It must hold
 * our largest handshake message, the Certificate chain: 8 KiB fits a leaf
 * plus two RSA-4096 intermediates. */
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 8192
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE /* identity checks after handshake */

/* Explicitly off (listed so nobody wonders): renegotiation, DTLS, CBC,
 * encrypt-then-MAC (CBC only), early data, static RSA, PSK-only, debug. */

#endif
