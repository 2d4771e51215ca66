/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_features.h - what a peer's <stream:features/> offers and what its
 * <stream:error/> says, read through the tokenizer.
 *
 * The outgoing side (s2s_out.c, probe.c) decides on these: STARTTLS and
 * whether it is <required/> (RFC 6120 §5.4.1), SASL EXTERNAL among the
 * <mechanisms/> (RFC 6120 §6.4.1, XEP-0178), dialback (XEP-0220 §2.4.2),
 * bidirectional streams (XEP-0288 §2.1),
 * and the defined condition of a stream error (RFC 6120 §4.9.3).  The
 * children of the element are parsed as elements by a second tokenizer
 * (xmlstream.c) on the bytes the stream's tokenizer already validated:
 * names and namespaces are compared, never substrings of the peer's
 * bytes (a mechanism named "NOT-EXTERNAL", or "<required" inside an
 * attribute value, is not mistaken for what it is not).
 */
#ifndef XE_S2S_FEATURES_H
#define XE_S2S_FEATURES_H

#include <stddef.h>

#include "xmlstream.h"

/* XEP-0288: the stream feature (receiving server) and the request
 * (initiating server). */
#define NS_BIDI_FEATURE "urn:xmpp:features:bidi"
#define NS_BIDI "urn:xmpp:bidi"

struct s2s_features {
	int starttls;			/* <starttls xmlns='...xmpp-tls'/> */
	int starttls_required;		/* ... with <required/> */
	int sasl_external;		/* <mechanism>EXTERNAL</mechanism> */
	int dialback;			/* <dialback xmlns='urn:xmpp:features:dialback'/> */
	int bidi;			/* <bidi xmlns='urn:xmpp:features:bidi'/> (XEP-0288 §2.1) */
	int sm;				/* <sm xmlns='urn:xmpp:sm:3'/> (XEP-0198 §2) */
};

/* Reads the <stream:features/> element ev.  0, or -1 when its children
 * cannot be read (out is then all zero: nothing is offered). */
int s2s_features_read(const struct xmlstream_event *ev, struct s2s_features *out);

/* The defined condition of the <stream:error/> element ev (the local name
 * of its child in the urn:ietf:params:xml:ns:xmpp-streams namespace other
 * than <text/>) into out; -1 when there is none (or it does not fit). */
int s2s_stream_error_condition(const struct xmlstream_event *ev, char *out, size_t cap);

#endif
