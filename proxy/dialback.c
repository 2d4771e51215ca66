/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dialback.c - Server Dialback: XEP-0185 keys and the XEP-0220 roles' messages, see dialback.h.
 */
#include "dialback.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

static void
hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
dialback_secret_set(struct dialback_secret *out, const void *secret, size_t len)
{
	unsigned char digest[32];

	if (len < DIALBACK_SECRET_MIN)
		return -1;
	if (mbedtls_sha256(secret, len, digest, 0) != 0)
		return -1;
	hex(digest, sizeof(digest), out->hmac_key);
	mbedtls_platform_zeroize(digest, sizeof(digest));
	out->loaded = 1;
	return 0;
}

int
dialback_secret_load(const char *path, struct dialback_secret *out, char *err, size_t errlen)
{
	unsigned char buf[DIALBACK_SECRET_FILE_MAX + 1];
	size_t len = 0;
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len > DIALBACK_SECRET_FILE_MAX) {
		snprintf(err, errlen, "%s: longer than %d bytes", path, DIALBACK_SECRET_FILE_MAX);
		goto out;
	}
	/* A trailing newline from an editor or `echo` is not part of it. */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (dialback_secret_set(out, buf, len) < 0) {
		snprintf(err, errlen, "%s: a dialback secret needs at least %d bytes", path,
		    DIALBACK_SECRET_MIN);
		goto out;
	}
	rc = 0;
out:
	mbedtls_platform_zeroize(buf, sizeof(buf));
	return rc;
}

int
dialback_key_make(const struct dialback_secret *s, const char *receiving,
    const char *originating, const char *stream_id, char out[DIALBACK_KEY_HEX_LEN + 1])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	unsigned char mac[32];
	int rc = -1;

	if (!s->loaded || md == NULL)
		return -1;
	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, md, 1) != 0 ||
	    mbedtls_md_hmac_starts(&ctx, (const unsigned char *)s->hmac_key, DIALBACK_KEY_HEX_LEN) != 0 ||
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)receiving, strlen(receiving)) != 0 ||
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)" ", 1) != 0 ||
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)originating, strlen(originating)) != 0 ||
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)" ", 1) != 0 ||
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)stream_id, strlen(stream_id)) != 0 ||
	    mbedtls_md_hmac_finish(&ctx, mac) != 0)
		goto out;
	hex(mac, sizeof(mac), out);
	rc = 0;
out:
	mbedtls_md_free(&ctx);
	return rc;
}

int
dialback_key_check(const struct dialback_secret *s, const char *receiving,
    const char *originating, const char *stream_id, const char *key)
{
	char want[DIALBACK_KEY_HEX_LEN + 1];
	unsigned char diff = 0;
	size_t i;

	if (strlen(key) != DIALBACK_KEY_HEX_LEN ||
	    dialback_key_make(s, receiving, originating, stream_id, want) < 0)
		return 0;
	for (i = 0; i < DIALBACK_KEY_HEX_LEN; i++)
		diff |= (unsigned char)(want[i] ^ key[i]);
	return diff == 0;
}

/* --- the roles' messages (XEP-0220) ------------------------------------- */

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

int
dialback_is_token(const char *t, size_t max)
{
	size_t n = strlen(t), i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		char c = t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/'))
			return 0;
	}
	return 1;
}

static int
dialback_fits(int n, size_t cap)
{
	return n > 0 && (size_t)n < cap ? n : -1;
}

int
dialback_result_write(const struct dialback_secret *s, const char *from, const char *to,
    const char *stream_id, char *out, size_t cap)
{
	char key[DIALBACK_KEY_HEX_LEN + 1];
	int n;

	/* XEP-0185: bound to the receiver, us and the receiver's stream id. */
	if (dialback_key_make(s, to, from, stream_id, key) < 0)
		return -1;
	n = snprintf(out, cap, "<db:result from='%s' to='%s'>%s</db:result>", from, to, key);
	mbedtls_platform_zeroize(key, sizeof(key));
	return dialback_fits(n, cap);
}

int
dialback_result_answer_write(const char *from, const char *to, const char *type,
    const char *error_cond, char *out, size_t cap)
{
	int n;

	if (error_cond == NULL)
		n = snprintf(out, cap, "<db:result from='%s' to='%s' type='%s'/>", from, to, type);
	else
		n = snprintf(out, cap, "<db:result from='%s' to='%s' type='error'><error "
		    "type='cancel'><%s xmlns='" NS_STANZAS "'/></error></db:result>", from, to, error_cond);
	return dialback_fits(n, cap);
}

int
dialback_verify_write(const char *from, const char *to, const char *id, const char *key,
    char *out, size_t cap)
{
	if (!dialback_is_token(key, DIALBACK_KEY_MAX) || !dialback_is_token(id, cap))
		return -1;
	return dialback_fits(snprintf(out, cap, "<db:verify from='%s' to='%s' id='%s'>%s</db:verify>",
	    from, to, id, key), cap);
}

enum dialback_verdict
dialback_verify_verdict(const struct xmlstream_event *ev, const char *us, const char *remote,
    const char *id, const char **why)
{
	/* It names our id and both domains the other way round. */
	if (!xmlstream_str_eq(&ev->id, id) || !xmlstream_str_eq(&ev->from, remote) ||
	    !xmlstream_str_eq(&ev->to, us)) {
		*why = "answer does not match the request";
		return DIALBACK_ERROR;
	}
	if (xmlstream_str_eq(&ev->stanza_type, "valid")) {
		*why = "the authoritative server confirmed the key";
		return DIALBACK_VALID;
	}
	if (xmlstream_str_eq(&ev->stanza_type, "invalid")) {
		*why = "the authoritative server denied the key";
		return DIALBACK_INVALID;
	}
	*why = "the authoritative server answered with an error";
	return DIALBACK_ERROR;
}

int
dialback_verify_answer_write(const struct dialback_secret *s, const char *asker,
    const char *ours, const char *id, const char *key, const char *error_cond, int *valid,
    char *out, size_t cap)
{
	*valid = 0;
	if (error_cond != NULL)
		return dialback_fits(snprintf(out, cap, "<db:verify from='%s' to='%s' type='error'><error "
		    "type='cancel'><%s xmlns='" NS_STANZAS "'/></error></db:verify>", ours, asker,
		    error_cond), cap);
	/* The id is an attribute the tokenizer decoded; it is echoed
	 * unescaped, so only without quote or markup characters (anything
	 * else is not one of ours anyway). */
	if (strpbrk(id, "'<&\"") != NULL)
		return -1;
	*valid = key != NULL && dialback_key_check(s, asker, ours, id, key);
	return dialback_fits(snprintf(out, cap, "<db:verify from='%s' to='%s' id='%s' type='%s'/>",
	    ours, asker, id, *valid ? "valid" : "invalid"), cap);
}
