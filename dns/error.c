/* SPDX-License-Identifier: Apache-2.0 */
/*
 * error.c - the messages and classes of dns/'s values (enum dns_error,
 * enum dns_tls_mode, enum dns_source): one place, so the CLI, the logs and
 * the s2s bounces say the same thing.
 */
#include "dns.h"

const char *
dns_error_str(enum dns_error err)
{
	switch (err) {
	case DNS_OK:			return "success";
	case DNS_ERR_BAD_NAME:		return "invalid domain name";
	case DNS_ERR_NXDOMAIN:		return "domain does not exist (NXDOMAIN)";
	case DNS_ERR_NODATA:		return "no records of the requested type";
	case DNS_ERR_NOT_AVAILABLE:	return "XMPP service decidedly not available at this domain (SRV target \".\")";
	case DNS_ERR_NO_ADDRESSES:	return "no target has an IPv6 or IPv4 address";
	case DNS_ERR_TIMEOUT:		return "DNS servers did not answer in time";
	case DNS_ERR_SERVFAIL:		return "DNS server failure (SERVFAIL)";
	case DNS_ERR_REFUSED:		return "DNS server refused the query (REFUSED)";
	case DNS_ERR_BAD_RESPONSE:	return "malformed or unusable DNS answer";
	case DNS_ERR_NO_SERVER:		return "no DNS server reachable";
	case DNS_ERR_CONNECT_FAILED:	return "every address refused the connection or was unreachable";
	case DNS_ERR_CONNECT_TIMEOUT:	return "no address accepted a connection in time";
	case DNS_ERR_NOMEM:		return "out of memory";
	case DNS_ERR_RESOLVER:		return "resolver failure";
	case DNS_ERR_CANCELLED:		return "cancelled";
	case DNS_ERR_TARGETS_REFUSED:	return "every address found is refused by the address policy "
					    "(special-purpose or our own; see dns.allow_private_targets)";
	}
	return "unknown error";
}

int
dns_error_is_timeout(enum dns_error err)
{
	switch (err) {
	case DNS_ERR_TIMEOUT:
	case DNS_ERR_NO_SERVER:
	case DNS_ERR_SERVFAIL:
	case DNS_ERR_CONNECT_FAILED:
	case DNS_ERR_CONNECT_TIMEOUT:
		/* RFC 6120 §8.3.3.17: the remote server may well exist; we
		 * could not reach it (or our resolver) now. */
		return 1;
	default:
		/* §8.3.3.16: the name does not lead to a server. */
		return 0;
	}
}

const char *
dns_tls_mode_name(enum dns_tls_mode mode)
{
	return mode == DNS_TLS_DIRECT ? "direct-tls" : "starttls";
}

const char *
dns_source_name(enum dns_source source)
{
	return source == DNS_SOURCE_SRV ? "srv" : "fallback";
}
