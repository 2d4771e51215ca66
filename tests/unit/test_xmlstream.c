/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_xmlstream.c - table-driven tests of the XMPP stream tokenizer.
 *
 * Every row of xs_cases is an input and the expected event sequence in a
 * short form ("O" open, "E:local" element, "C" close, "X:condition"
 * error).  Each row is run three ways - in one read, one byte per read,
 * and split in two at every position - and the full event descriptions
 * (every field, element bytes, error text) must be identical: the
 * tokenizer's output may depend on the bytes only, never on the reads.
 * Every element and error of every run must also pass the output
 * invariants of xmlstream_check.h (the ones the fuzz targets check).
 * Tests for specific fields, the writer and the buffer follow the table.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_error.h"
#include "xmlstream.h"
#include "xmlstream_check.h"

#define XT_HDR_ATTRS "xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' " \
	"xmlns:db='jabber:server:dialback' to='a.example' from='b.example' " \
	"version='1.0'"
#define XT_HDR "<?xml version='1.0'?><stream:stream " XT_HDR_ATTRS ">"
#define XT_HDR_NODECL "<stream:stream " XT_HDR_ATTRS ">"
#define XT_SS "xmlns:stream='http://etherx.jabber.org/streams'"

struct xt_case {
	const char	*name;
	const char	*input;
	size_t		 len;		/* 0: strlen(input) */
	const char	*expect;	/* short form */
	size_t		 stanza_max;	/* 0: default limits */
	size_t		 depth_max, attrs_max, name_max;
	const char	*content_ns;
	int		 limits_at_start; /* else applied after OPEN, as at auth */
};

static const struct xt_case xs_cases[] = {
	/* ---- valid streams ---- */
	{ "header", XT_HDR, 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_no_xmldecl", XT_HDR_NODECL, 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_dquotes", "<stream:stream xmlns=\"jabber:server\" "
	    "xmlns:stream=\"http://etherx.jabber.org/streams\" "
	    "version=\"1.0\">", 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_bom", "\xef\xbb\xbf" XT_HDR, 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_xmldecl_full", "<?xml version=\"1.0\" encoding='utf-8' "
	    "standalone='yes' ?>\n" XT_HDR_NODECL, 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_other_prefix", "<s:stream xmlns='jabber:server' "
	    "xmlns:s='http://etherx.jabber.org/streams' version='1.0'>"
	    "<s:features/></s:stream>", 0, "O E:features C", 0, 0, 0, 0,
	    NULL, 0 },
	{ "header_client_ns", "<stream:stream xmlns='jabber:client' " XT_SS
	    " version='1.0'>", 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_version_1_1", "<stream:stream xmlns='jabber:server' "
	    XT_SS " version='1.1'>", 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_version_leading_zero", "<stream:stream xmlns='jabber:"
	    "server' " XT_SS " version='01.00'>", 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_ws_around_eq", "<stream:stream xmlns = 'jabber:server'\n"
	    "\t" XT_SS " version\r\n=\t'1.0' >", 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_xml_lang", "<stream:stream xmlns='jabber:server' " XT_SS
	    " version='1.0' xml:lang='en'>", 0, "O", 0, 0, 0, 0, NULL, 0 },
	{ "header_selfclosed", "<stream:stream xmlns='jabber:server' " XT_SS
	    " version='1.0'/>", 0, "O C", 0, 0, 0, 0, NULL, 0 },
	{ "message", XT_HDR "<message to='x@a.example' from='y@b.example' "
	    "type='chat' id='m1'><body>hi</body></message>", 0,
	    "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "empty_stanza", XT_HDR "<presence/>", 0, "O E:presence", 0, 0, 0,
	    0, NULL, 0 },
	{ "empty_stanza_ws", XT_HDR "<presence type='probe' />", 0,
	    "O E:presence", 0, 0, 0, 0, NULL, 0 },
	{ "keepalives", XT_HDR " \n <presence/>\t\r\n <iq type='get' "
	    "id='2'/>   \n", 0, "O E:presence E:iq", 0, 0, 0, 0, NULL, 0 },
	{ "close", XT_HDR "<presence/></stream:stream>", 0, "O E:presence C",
	    0, 0, 0, 0, NULL, 0 },
	{ "close_ws_after", XT_HDR "</stream:stream >\n \n", 0, "O C", 0, 0,
	    0, 0, NULL, 0 },
	{ "char_refs", XT_HDR "<message><body>&#x41;&#66;&lt;&gt;&amp;"
	    "&apos;&quot;&#x1F600;&#1114111;</body></message>", 0,
	    "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "attr_refs", XT_HDR "<message to='a&amp;b&#x40;c' id=\"&quot;q"
	    "&apos;\"/>", 0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "attr_both_quotes", XT_HDR "<message id=\"it's\" to='say \"x\"'/>",
	    0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "attr_empty_value", XT_HDR "<message id='' type=\"\"/>", 0,
	    "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "utf8_text", XT_HDR "<message><body>h\xc3\xa9llo \xe2\x82\xac "
	    "\xf0\x9f\x98\x80 \xef\xbf\xbd</body></message>", 0, "O E:message",
	    0, 0, 0, 0, NULL, 0 },
	{ "utf8_attr", XT_HDR "<message id='\xe2\x82\xac\xf0\x9f\x98\x80'/>",
	    0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "utf8_names", XT_HDR "<message><\xc3\xa9l\xc3\xa8ve xmlns='urn:x' "
	    "\xc3\xa0='1'/></message>", 0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "cdata", XT_HDR "<message><body><![CDATA[<a>&amp;]]]]></body>"
	    "</message>", 0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "brackets_in_text", XT_HDR "<message><body>]] ]>]&gt;</body>"
	    "</message>", 0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "nested", XT_HDR "<iq type='set' id='n'><a xmlns='urn:a'><b><c>"
	    "<d/></c></b></a></iq>", 0, "O E:iq", 0, 0, 0, 0, NULL, 0 },
	{ "dialback_prefix", XT_HDR "<db:result to='a.example' "
	    "from='b.example'>key</db:result>", 0, "O E:result", 0, 0, 0, 0,
	    NULL, 0 },
	{ "own_prefix", XT_HDR "<message><x:y xmlns:x='urn:x' x:a='1'>"
	    "<x:z/></x:y></message>", 0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "xml_lang_stanza", XT_HDR "<message xml:lang='fr'><body "
	    "xml:lang='de'>x</body></message>", 0, "O E:message", 0, 0, 0, 0,
	    NULL, 0 },
	{ "end_tag_ws", XT_HDR "<message ><body\n>x</body\t></message\r\n>",
	    0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "features_starttls", XT_HDR "<stream:features><starttls xmlns="
	    "'urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
	    "</stream:features>", 0, "O E:features", 0, 0, 0, 0, NULL, 0 },
	{ "many_stanzas", XT_HDR "<a/><b/><c>x</c><d><e/></d>", 0,
	    "O E:a E:b E:c E:d", 0, 0, 0, 0, NULL, 0 },
	{ "crlf_text", XT_HDR "<message><body>a\r\nb\rc\td</body></message>",
	    0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "same_attr_diff_prefix_ns", XT_HDR "<message xmlns:p='urn:p' "
	    "xmlns:q='urn:q' p:a='1' q:a='2'/>", 0, "O E:message", 0, 0, 0, 0,
	    NULL, 0 },
	{ "redeclare_default_empty", XT_HDR "<message><x xmlns=''/>"
	    "</message>", 0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "stanza_exact_limit", XT_HDR "<presence id='0123456789'/>", 0,
	    "O E:presence", 27, 0, 0, 0, NULL, 0 },
	{ "attrs_exact_limit", XT_HDR "<presence a='1' b='2'/>", 0,
	    "O E:presence", 0, 0, 2, 0, NULL, 0 },
	{ "depth_exact_limit", XT_HDR "<a><b><c/></b></a>", 0, "O E:a", 0,
	    3, 0, 0, NULL, 0 },
	{ "name_exact_limit", XT_HDR "<abcd/>", 0, "O E:abcd", 0, 0, 0, 4,
	    NULL, 0 },
	{ "content_ns_fixed", "<stream:stream xmlns='jabber:server' " XT_SS
	    " version='1.0'>", 0, "O", 0, 0, 0, 0, "jabber:server", 0 },

	/* ---- not-well-formed ---- */
	{ "nwf_mismatch", XT_HDR "<message><body>x</bdy></message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_close_mismatch", XT_HDR "</stream:streams>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_unquoted_attr", XT_HDR "<message id=1/>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_lt_in_attr", XT_HDR "<message id='<'/>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_dup_attr", XT_HDR "<message id='1' id='2'/>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_dup_expanded_attr", XT_HDR "<message xmlns:p='urn:p' "
	    "xmlns:q='urn:p' p:a='1' q:a='2'/>", 0, "O X:not-well-formed", 0,
	    0, 0, 0, NULL, 0 },
	{ "nwf_attr_no_ws", XT_HDR "<message id='1'to='2'/>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_attr_no_value", XT_HDR "<message id/>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_charref_zero", XT_HDR "<message>&#0;</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_charref_surrogate", XT_HDR "<message>&#xD800;</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_charref_too_big", XT_HDR "<message>&#x110000;</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_charref_empty", XT_HDR "<message>&#;</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_charref_bad_digit", XT_HDR "<message>&#x4G;</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_bare_amp", XT_HDR "<message>a & b</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_entity_no_semicolon", XT_HDR "<message>&amp </message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_utf8_overlong", XT_HDR "<message>\xc0\x80</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_utf8_surrogate", XT_HDR "<message>\xed\xa0\x80</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_utf8_ff", XT_HDR "<message>\xff</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_utf8_truncated", XT_HDR "<message>\xe2\x82</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_utf8_above_max", XT_HDR "<message>\xf4\x90\x80\x80</message>",
	    0, "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_utf8_in_attr", XT_HDR "<message id='\x80'/>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_nonchar_fffe", XT_HDR "<message>\xef\xbf\xbe</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_control_char", XT_HDR "<message>\x01</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_nul_in_text", XT_HDR "<message>a\0b</message>",
	    sizeof(XT_HDR "<message>a\0b</message>") - 1,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_cdata_end_in_text", XT_HDR "<message>a]]>b</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_bad_name_start", XT_HDR "<1abc/>", 0, "O X:not-well-formed",
	    0, 0, 0, 0, NULL, 0 },
	{ "nwf_bad_qname", XT_HDR "<a:b:c/>", 0, "O X:not-well-formed", 0,
	    0, 0, 0, NULL, 0 },
	{ "nwf_slash_space_gt", XT_HDR "<a/ >", 0, "O X:not-well-formed", 0,
	    0, 0, 0, NULL, 0 },
	{ "nwf_bad_comment_open", XT_HDR "<message><!-x</message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_bad_cdata_open", XT_HDR "<message><![CDATX[x]]></message>", 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_text_before_header", "hello" XT_HDR, 0, "X:not-well-formed",
	    0, 0, 0, 0, NULL, 0 },
	{ "nwf_end_before_header", "</stream:stream>", 0,
	    "X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_after_close", XT_HDR "</stream:stream><presence/>", 0,
	    "O C X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_xmldecl_no_version", "<?xml encoding='UTF-8'?>" XT_HDR_NODECL,
	    0, "X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_xmldecl_empty", "<?xml?>" XT_HDR_NODECL, 0,
	    "X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_utf8_in_name", XT_HDR "<a\xc3\x28/>", 0, "O X:not-well-formed",
	    0, 0, 0, 0, NULL, 0 },

	/* ---- restricted-xml (RFC 6120 §11.1) ---- */
	{ "rx_comment", XT_HDR "<message><!-- hi --></message>", 0,
	    "O X:restricted-xml", 0, 0, 0, 0, NULL, 0 },
	{ "rx_comment_top", XT_HDR "<!-- hi -->", 0, "O X:restricted-xml",
	    0, 0, 0, 0, NULL, 0 },
	{ "rx_comment_prolog", "<?xml version='1.0'?><!-- x -->"
	    XT_HDR_NODECL, 0, "X:restricted-xml", 0, 0, 0, 0, NULL, 0 },
	{ "rx_pi", XT_HDR "<message><?php echo 1; ?></message>", 0,
	    "O X:restricted-xml", 0, 0, 0, 0, NULL, 0 },
	{ "rx_pi_prolog", "<?xml-stylesheet href='a'?>" XT_HDR_NODECL, 0,
	    "X:restricted-xml", 0, 0, 0, 0, NULL, 0 },
	{ "rx_xmldecl_late", " <?xml version='1.0'?>" XT_HDR_NODECL, 0,
	    "X:restricted-xml", 0, 0, 0, 0, NULL, 0 },
	{ "rx_doctype", "<!DOCTYPE stream [<!ENTITY x 'y'>]>" XT_HDR_NODECL,
	    0, "X:restricted-xml", 0, 0, 0, 0, NULL, 0 },
	{ "rx_entity_ref", XT_HDR "<message>&foo;</message>", 0,
	    "O X:restricted-xml", 0, 0, 0, 0, NULL, 0 },
	{ "rx_entity_ref_attr", XT_HDR "<message id='&nbsp;'/>", 0,
	    "O X:restricted-xml", 0, 0, 0, 0, NULL, 0 },
	{ "rx_entity_in_header", "<stream:stream xmlns='jabber:server' "
	    XT_SS " version='1.0' to='&x;'>", 0, "X:restricted-xml", 0, 0, 0,
	    0, NULL, 0 },

	/* ---- unsupported-encoding (RFC 6120 §11.6) ---- */
	{ "enc_utf16be_bom", "\xfe\xff\0<", 4, "X:unsupported-encoding", 0,
	    0, 0, 0, NULL, 0 },
	{ "enc_utf16le_bom", "\xff\xfe<\0", 4, "X:unsupported-encoding", 0,
	    0, 0, 0, NULL, 0 },
	{ "enc_utf16le_nobom", "<\0?\0", 4, "X:unsupported-encoding", 0, 0,
	    0, 0, NULL, 0 },
	{ "enc_latin1_decl", "<?xml version='1.0' encoding='ISO-8859-1'?>"
	    XT_HDR_NODECL, 0, "X:unsupported-encoding", 0, 0, 0, 0, NULL, 0 },

	/* ---- bad-namespace-prefix ---- */
	{ "bnp_stanza_prefix", XT_HDR "<foo:message/>", 0,
	    "O X:bad-namespace-prefix", 0, 0, 0, 0, NULL, 0 },
	{ "bnp_attr_prefix", XT_HDR "<message foo:id='1'/>", 0,
	    "O X:bad-namespace-prefix", 0, 0, 0, 0, NULL, 0 },
	{ "bnp_header_prefix", "<stream:stream xmlns='jabber:server' "
	    "version='1.0'>", 0, "X:bad-namespace-prefix", 0, 0, 0, 0, NULL, 0 },
	{ "bnp_xml_rebound", XT_HDR "<message xmlns:xml='urn:x'/>", 0,
	    "O X:bad-namespace-prefix", 0, 0, 0, 0, NULL, 0 },
	{ "bnp_undeclare", XT_HDR "<message xmlns:p=''/>", 0,
	    "O X:bad-namespace-prefix", 0, 0, 0, 0, NULL, 0 },
	{ "bnp_xmlns_element", XT_HDR "<xmlns:a/>", 0,
	    "O X:bad-namespace-prefix", 0, 0, 0, 0, NULL, 0 },
	{ "bnp_declare_xmlns", XT_HDR "<message xmlns:xmlns='urn:x'/>", 0,
	    "O X:bad-namespace-prefix", 0, 0, 0, 0, NULL, 0 },
	{ "bnp_prefix_out_of_scope", XT_HDR "<message><x:a xmlns:x='urn:x'/>"
	    "<x:b/></message>", 0, "O X:bad-namespace-prefix", 0, 0, 0, 0,
	    NULL, 0 },

	/* ---- invalid-namespace ---- */
	{ "ins_stream_ns", "<stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams/' "
	    "version='1.0'>", 0, "X:invalid-namespace", 0, 0, 0, 0, NULL, 0 },
	{ "ins_no_default", "<stream:stream " XT_SS " version='1.0'>", 0,
	    "X:invalid-namespace", 0, 0, 0, 0, NULL, 0 },
	{ "ins_bad_content_ns", "<stream:stream xmlns='jabber:x' " XT_SS
	    " version='1.0'>", 0, "X:invalid-namespace", 0, 0, 0, 0, NULL, 0 },
	{ "ins_client_on_s2s", "<stream:stream xmlns='jabber:client' " XT_SS
	    " version='1.0'>", 0, "X:invalid-namespace", 0, 0, 0, 0,
	    "jabber:server", 0 },
	{ "ins_unprefixed_root", "<stream xmlns='jabber:server' "
	    "version='1.0'>", 0, "X:invalid-namespace", 0, 0, 0, 0, NULL, 0 },

	/* ---- bad-format ---- */
	{ "bf_root_name", "<stream:foo xmlns='jabber:server' " XT_SS
	    " version='1.0'>", 0, "X:bad-format", 0, 0, 0, 0, NULL, 0 },
	{ "bf_text_between", XT_HDR "<presence/>hello", 0,
	    "O E:presence X:bad-format", 0, 0, 0, 0, NULL, 0 },
	{ "bf_ref_between", XT_HDR "&#32;", 0, "O X:bad-format", 0, 0, 0, 0,
	    NULL, 0 },
	{ "bf_cdata_between", XT_HDR "<![CDATA[ ]]>", 0, "O X:bad-format", 0,
	    0, 0, 0, NULL, 0 },
	{ "bf_version_garbage", "<stream:stream xmlns='jabber:server' " XT_SS
	    " version='one'>", 0, "X:bad-format", 0, 0, 0, 0, NULL, 0 },

	/* ---- unsupported-version ---- */
	{ "uv_missing", "<stream:stream xmlns='jabber:server' " XT_SS ">", 0,
	    "X:unsupported-version", 0, 0, 0, 0, NULL, 0 },
	{ "uv_two", "<stream:stream xmlns='jabber:server' " XT_SS
	    " version='2.0'>", 0, "X:unsupported-version", 0, 0, 0, 0, NULL, 0 },

	/* ---- policy-violation (limits) ---- */
	{ "pv_stanza_size", XT_HDR "<presence id='0123456789'/>", 0,
	    "O X:policy-violation", 26, 0, 0, 0, NULL, 0 },
	{ "pv_stanza_size_text", XT_HDR "<message><body>xxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</body></message>", 0,
	    "O X:policy-violation", 40, 0, 0, 0, NULL, 0 },
	{ "pv_header_size", XT_HDR, 0, "X:policy-violation", 100, 0, 0, 0,
	    NULL, 1 },
	{ "pv_header_attrs", XT_HDR, 0, "X:policy-violation", 0, 0, 3, 0,
	    NULL, 1 },
	{ "pv_header_name", XT_HDR, 0, "X:policy-violation", 0, 0, 0, 12,
	    NULL, 1 },
	{ "pv_depth", XT_HDR "<a><b><c><d/></c></b></a>", 0,
	    "O X:policy-violation", 0, 3, 0, 0, NULL, 0 },
	{ "pv_attrs", XT_HDR "<presence a='1' b='2' c='3'/>", 0,
	    "O X:policy-violation", 0, 0, 2, 0, NULL, 0 },
	{ "pv_name", XT_HDR "<abcde/>", 0, "O X:policy-violation", 0, 0, 0,
	    4, NULL, 0 },
	{ "pv_attr_name", XT_HDR "<a abcde='1'/>", 0, "O X:policy-violation",
	    0, 0, 0, 4, NULL, 0 },

	/* ---- issue 14 finding 4: the byte after ']' in CDATA ---- */
#define XT_CD(x) XT_HDR "<message><body><![CDATA[" x "]]></body></message>"
	{ "cdata_bracket_nul", XT_CD("]\0"), sizeof(XT_CD("]\0")) - 1,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "cdata_bracket_ctrl", XT_CD("a]\x01b"), 0, "O X:not-well-formed",
	    0, 0, 0, 0, NULL, 0 },
	{ "cdata_bracket_ff", XT_CD("]\xff"), 0, "O X:not-well-formed", 0, 0,
	    0, 0, NULL, 0 },
	{ "cdata_bracket_fffe", XT_CD("]\xef\xbf\xbe"), 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "cdata_bracket_e_acute", XT_CD("]\xc3\xa9"), 0, "O E:message", 0, 0,
	    0, 0, NULL, 0 },
	{ "cdata_bracket_euro_emoji", XT_CD("]\xe2\x82\xac]\xf0\x9f\x98\x80"),
	    0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "cdata_bracket_alone", XT_CD("]"), 0, "O E:message", 0, 0, 0, 0,
	    NULL, 0 },
	{ "cdata_triple_bracket_end", XT_HDR "<message><![CDATA[a]]]></message>",
	    0, "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "cdata_many_brackets", XT_CD("]]]]]x]]"), 0, "O E:message", 0, 0,
	    0, 0, NULL, 0 },
	{ "cdata_bracket_bracket_other", XT_CD("]]a]]\t]]\xc3\xa9"), 0,
	    "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "cdata_bracket_bracket_ctrl", XT_CD("]]\x02"), 0,
	    "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "text_bracket_e_acute", XT_HDR "<message>]\xc3\xa9]]</message>", 0,
	    "O E:message", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_cdata_end_in_text_triple", XT_HDR "<message>a]]]>b</message>",
	    0, "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
	{ "nwf_cdata_end_in_text_after_cdata", XT_HDR "<message><![CDATA[x]]>"
	    "]]></message>", 0, "O X:not-well-formed", 0, 0, 0, 0, NULL, 0 },
#undef XT_CD
	/* Found by fuzz_xmltok: the predefined entities are accepted by
	 * the fast path whatever limits.name_max is; the byte-by-byte path
	 * used to hold "apos" to a name_max of 3. */
	{ "ref_names_under_small_name_max", XT_HDR "<a b='&apos;&quot;'>"
	    "&amp;&apos;</a>", 0, "O E:a", 0, 0, 0, 3, NULL, 0 },
};

#define XT_DESC_MAX 65536

struct xt_desc {
	char	buf[XT_DESC_MAX];
	size_t	len;
	char	shortf[1024];
	size_t	slen;
};

static void
xt_put(struct xt_desc *d, const char *p, size_t n)
{
	if (n > sizeof(d->buf) - 1 - d->len)
		n = sizeof(d->buf) - 1 - d->len;
	memcpy(d->buf + d->len, p, n);
	d->len += n;
	d->buf[d->len] = '\0';
}

static void
xt_field(struct xt_desc *d, const char *name, struct xmlstream_str v)
{
	xt_put(d, " ", 1);
	xt_put(d, name, strlen(name));
	if (v.p == NULL) {
		xt_put(d, "=-", 2);
		return;
	}
	xt_put(d, "=[", 2);
	xt_put(d, v.p, v.len);
	xt_put(d, "]", 1);
}

static void
xt_short(struct xt_desc *d, const char *s, struct xmlstream_str v)
{
	int n;

	n = snprintf(d->shortf + d->slen, sizeof(d->shortf) - d->slen,
	    "%s%s%.*s", d->slen ? " " : "", s, v.p ? (int)v.len : 0,
	    v.p ? v.p : "");
	if (n > 0 && (size_t)n < sizeof(d->shortf) - d->slen)
		d->slen += (size_t)n;
}

static void
xt_describe(struct xt_desc *d, const struct xmlstream *s,
    const struct xmlstream_event *ev)
{
	struct xmlstream_str none = { NULL, 0 }, cs;
	char tmp[64];
	size_t i;

	switch (ev->type) {
	case XMLSTREAM_EV_STREAM_OPEN:
		xt_short(d, "O", none);
		xt_put(d, "OPEN", 4);
		xt_field(d, "raw", ev->raw);
		xt_field(d, "name", ev->name);
		xt_field(d, "prefix", ev->prefix);
		xt_field(d, "ns", ev->ns);
		xt_field(d, "to", ev->to);
		xt_field(d, "from", ev->from);
		xt_field(d, "id", ev->id);
		xt_field(d, "lang", ev->lang);
		xt_field(d, "version", ev->version);
		xt_field(d, "default_ns", ev->default_ns);
		snprintf(tmp, sizeof(tmp), " v=%u.%u np=%zu",
		    ev->version_major, ev->version_minor, ev->nprefixes);
		xt_put(d, tmp, strlen(tmp));
		for (i = 0; i < ev->nprefixes; i++) {
			xt_field(d, "p", ev->prefixes[i].prefix);
			xt_field(d, "u", ev->prefixes[i].uri);
		}
		break;
	case XMLSTREAM_EV_ELEMENT: {
		char out[4096];
		size_t olen;
		struct xmlstream_str w;

		xt_short(d, "E:", ev->name);
		xt_put(d, "ELEMENT", 7);
		xt_field(d, "raw", ev->raw);
		xt_field(d, "name", ev->name);
		xt_field(d, "prefix", ev->prefix);
		xt_field(d, "ns", ev->ns);
		xt_field(d, "to", ev->to);
		xt_field(d, "from", ev->from);
		xt_field(d, "id", ev->id);
		xt_field(d, "type", ev->stanza_type);
		xt_field(d, "lang", ev->lang);
		snprintf(tmp, sizeof(tmp), " ne=%zu used=%x own=%d",
		    ev->name_end, (unsigned)ev->hdr_prefixes_used,
		    ev->own_default_ns);
		xt_put(d, tmp, strlen(tmp));
		if (xmlstream_element_write(s, ev, 1, out, sizeof(out),
		    &olen) == 0) {
			w.p = out;
			w.len = olen;
			xt_field(d, "re", w);
		}
		break;
	}
	case XMLSTREAM_EV_STREAM_CLOSE:
		xt_short(d, "C", none);
		xt_put(d, "CLOSE", 5);
		break;
	case XMLSTREAM_EV_ERROR:
		cs.p = stream_error_name(ev->cond);
		cs.len = cs.p ? strlen(cs.p) : 0;
		xt_short(d, "X:", cs);
		xt_put(d, "ERROR ", 6);
		xt_put(d, cs.p ? cs.p : "?", cs.p ? cs.len : 1);
		xt_put(d, " ", 1);
		xt_put(d, ev->text, strlen(ev->text));
		break;
	default:
		break;
	}
	xt_put(d, "\n", 1);
}

static void
xt_case_limits(const struct xt_case *c, struct xmlstream_limits *lim)
{
	xmlstream_limits_default(lim);
	if (c->stanza_max)
		lim->stanza_max = c->stanza_max;
	if (c->depth_max)
		lim->depth_max = c->depth_max;
	if (c->attrs_max)
		lim->attrs_max = c->attrs_max;
	if (c->name_max)
		lim->name_max = c->name_max;
}

static struct xmlstream *
xt_new(const struct xt_case *c)
{
	struct xmlstream_limits lim;

	xmlstream_limits_default(&lim);
	if (!c->limits_at_start)
		return xmlstream_new(&lim, c->content_ns);
	xt_case_limits(c, &lim);
	return xmlstream_new(&lim, c->content_ns);
}

/* Drains events; returns 1 once an error was seen (stop feeding). */
static int
xt_drain(const struct xt_case *c, struct xmlstream *s, struct xt_desc *d)
{
	struct xmlstream_event ev;
	struct xmlstream_limits lim;

	char why[256];

	while (xmlstream_next(s, &ev) != XMLSTREAM_EV_NONE) {
		xt_describe(d, s, &ev);
		if ((ev.type == XMLSTREAM_EV_ELEMENT &&
		    xmlstream_check_element(s, &ev, why, sizeof(why)) != 0) ||
		    (ev.type == XMLSTREAM_EV_ERROR &&
		    xmlstream_check_error_text(ev.text, why, sizeof(why)) != 0))
			test_fail_at(__FILE__, __LINE__, "%s: %s", c->name, why);
		if (ev.type == XMLSTREAM_EV_STREAM_OPEN &&
		    !c->limits_at_start) {
			xt_case_limits(c, &lim);
			REQUIRE(xmlstream_set_limits(s, &lim) == 0);
		}
		if (ev.type == XMLSTREAM_EV_ERROR)
			return 1;
	}
	return 0;
}

/* Feeds input in chunks of at most 'step' bytes, with an extra cut at
 * 'split' (0: none). */
static void
xt_run(const struct xt_case *c, const char *in, size_t len, size_t step,
    size_t split, struct xt_desc *d)
{
	struct xmlstream *s = xt_new(c);
	size_t off = 0, n, took;

	d->len = d->slen = 0;
	d->buf[0] = d->shortf[0] = '\0';
	REQUIRE(s != NULL);
	while (off < len) {
		n = len - off;
		if (n > step)
			n = step;
		if (split && off < split && off + n > split)
			n = split - off;
		took = xmlstream_feed(s, in + off, n);
		if (xt_drain(c, s, d))
			goto out;
		REQUIRE(took > 0);
		off += took;
	}
	xt_drain(c, s, d);
out:
	xmlstream_free(s);
}

static int
xt_check_case(const struct xt_case *c)
{
	static struct xt_desc full, other;
	size_t len = c->len ? c->len : strlen(c->input), i;
	int bad = 0;

	xt_run(c, c->input, len, len ? len : 1, 0, &full);
	if (strcmp(full.shortf, c->expect) != 0) {
		test_fail_at(__FILE__, __LINE__, "%s: got \"%s\" want \"%s\"\n%s",
		    c->name, full.shortf, c->expect, full.buf);
		return 1;
	}
	xt_run(c, c->input, len, 1, 0, &other);
	if (strcmp(full.buf, other.buf) != 0) {
		test_fail_at(__FILE__, __LINE__, "%s: byte-at-a-time differs:"
		    "\n%s---\n%s", c->name, full.buf, other.buf);
		bad = 1;
	}
	for (i = 1; i < len && !bad; i++) {
		xt_run(c, c->input, len, len, i, &other);
		if (strcmp(full.buf, other.buf) != 0) {
			test_fail_at(__FILE__, __LINE__, "%s: split at %zu "
			    "differs:\n%s---\n%s", c->name, i, full.buf,
			    other.buf);
			bad = 1;
		}
	}
	return bad;
}

TEST(xmlstream_table)
{
	size_t i;

	for (i = 0; i < sizeof(xs_cases) / sizeof(xs_cases[0]); i++)
		xt_check_case(&xs_cases[i]);
}

/* ---- individual field checks ---- */

static struct xmlstream *
xt_parse_all(const char *in, struct xmlstream_event *evs, size_t max,
    size_t *nev)
{
	struct xmlstream *s = xmlstream_new(NULL, NULL);
	size_t n = 0;

	REQUIRE(s != NULL);
	REQUIRE(xmlstream_feed(s, in, strlen(in)) == strlen(in));
	while (n < max && xmlstream_next(s, &evs[n]) != XMLSTREAM_EV_NONE) {
		n++;
		if (evs[n - 1].type == XMLSTREAM_EV_ERROR)
			break;
	}
	*nev = n;
	return s;
}

static int
xt_str_is(struct xmlstream_str v, const char *want)
{
	return v.p != NULL && v.len == strlen(want) &&
	    memcmp(v.p, want, v.len) == 0;
}

TEST(xmlstream_open_fields)
{
	struct xmlstream_event ev[4];
	size_t n;
	struct xmlstream *s = xt_parse_all("<?xml version='1.0'?>"
	    "<stream:stream xmlns='jabber:server' " XT_SS " xmlns:db="
	    "'jabber:server:dialback' to='a.example' from='b&#46;example' "
	    "id='abc' version='1.0' xml:lang='en'>", ev, 4, &n);

	REQUIRE(n == 1);
	CHECK_INT_EQ(ev[0].type, XMLSTREAM_EV_STREAM_OPEN);
	CHECK(xt_str_is(ev[0].to, "a.example"));
	CHECK(xt_str_is(ev[0].from, "b.example"));
	CHECK(xt_str_is(ev[0].id, "abc"));
	CHECK(xt_str_is(ev[0].version, "1.0"));
	CHECK(xt_str_is(ev[0].lang, "en"));
	CHECK(xt_str_is(ev[0].default_ns, "jabber:server"));
	CHECK(xt_str_is(ev[0].name, "stream"));
	CHECK(xt_str_is(ev[0].prefix, "stream"));
	CHECK(xt_str_is(ev[0].ns, XMLSTREAM_NS_STREAMS));
	CHECK_INT_EQ(ev[0].version_major, 1);
	CHECK_INT_EQ(ev[0].version_minor, 0);
	REQUIRE(ev[0].nprefixes == 2);
	CHECK(xt_str_is(ev[0].prefixes[0].prefix, "stream"));
	CHECK(xt_str_is(ev[0].prefixes[1].prefix, "db"));
	CHECK(xt_str_is(ev[0].prefixes[1].uri, "jabber:server:dialback"));
	CHECK(ev[0].raw.len > 0 && ev[0].raw.p[0] == '<' &&
	    ev[0].raw.p[ev[0].raw.len - 1] == '>');
	xmlstream_free(s);
}

TEST(xmlstream_element_fields)
{
	struct xmlstream_event ev[4];
	size_t n;
	const char *st = "<message to='x@a.example' from=\"y@b.example/r\" "
	    "type='chat' id='a&amp;b&#x20;c' xml:lang='fr'><body>hi</body>"
	    "</message>";
	char in[1024];
	struct xmlstream *s;

	snprintf(in, sizeof(in), "%s  %s <presence/>", XT_HDR, st);
	s = xt_parse_all(in, ev, 4, &n);
	REQUIRE(n == 3);
	CHECK_INT_EQ(ev[1].type, XMLSTREAM_EV_ELEMENT);
	CHECK(ev[1].raw.len == strlen(st) &&
	    memcmp(ev[1].raw.p, st, ev[1].raw.len) == 0);
	CHECK(xt_str_is(ev[1].name, "message"));
	CHECK(ev[1].prefix.p == NULL);
	CHECK(xt_str_is(ev[1].ns, "jabber:server"));
	CHECK(xt_str_is(ev[1].to, "x@a.example"));
	CHECK(xt_str_is(ev[1].from, "y@b.example/r"));
	CHECK(xt_str_is(ev[1].stanza_type, "chat"));
	CHECK(xt_str_is(ev[1].id, "a&b c"));
	CHECK(xt_str_is(ev[1].lang, "fr"));
	CHECK_INT_EQ(ev[1].name_end, 8);
	CHECK_INT_EQ(ev[1].hdr_prefixes_used, 0);
	CHECK_INT_EQ(ev[2].type, XMLSTREAM_EV_ELEMENT);
	CHECK(xt_str_is(ev[2].name, "presence"));
	CHECK(ev[2].to.p == NULL && ev[2].stanza_type.p == NULL);
	xmlstream_free(s);
}

TEST(xmlstream_attr_normalisation)
{
	struct xmlstream_event ev[4];
	size_t n;
	struct xmlstream *s = xt_parse_all(XT_HDR "<message id='a\tb\r\nc"
	    "\rd\ne&#9;f' to='&lt;&gt;&quot;&apos;'/><presence/>", ev, 4, &n);

	REQUIRE(n == 3);
	CHECK(xt_str_is(ev[1].id, "a b c d e\tf"));
	CHECK(xt_str_is(ev[1].to, "<>\"'"));
	/* The quoted spans keep what normalisation changed (bounces copy
	 * them, issue 14 finding 9). */
	CHECK(xt_str_is(ev[1].id_quoted, "'a\tb\r\nc\rd\ne&#9;f'"));
	CHECK(xt_str_is(ev[1].to_quoted, "'&lt;&gt;&quot;&apos;'"));
	CHECK(ev[1].from_quoted.p == NULL);
	CHECK(ev[2].to_quoted.p == NULL && ev[2].id_quoted.p == NULL);
	xmlstream_free(s);
}

TEST(xmlstream_prefix_injection)
{
	struct xmlstream_event ev[4];
	size_t n, len;
	char out[512];
	const char *want = "<db:result xmlns:db='jabber:server:dialback' "
	    "to='a.example'>k<x/></db:result>";
	struct xmlstream *s = xt_parse_all(XT_HDR "<db:result to='a.example'"
	    ">k<x/></db:result><message><db:x/></message><message "
	    "xmlns:db='urn:other'><db:x/></message>", ev, 4, &n);

	REQUIRE(n == 4);
	CHECK(xt_str_is(ev[1].ns, "jabber:server:dialback"));
	CHECK(xt_str_is(ev[1].prefix, "db"));
	CHECK(ev[1].hdr_prefixes_used == 2u);	/* db is header prefix 1 */
	REQUIRE(xmlstream_element_write(s, &ev[1], 0, out, sizeof(out),
	    &len) == 0);
	CHECK(len == strlen(want) && memcmp(out, want, len) == 0);
	/* with the default namespace too */
	REQUIRE(xmlstream_element_write(s, &ev[1], 1, out, sizeof(out),
	    &len) == 0);
	CHECK(len == strlen(want) + strlen(" xmlns='jabber:server'"));
	/* cap too small */
	CHECK(xmlstream_element_write(s, &ev[1], 0, out, 20, &len) == -1);
	/* child uses the header prefix */
	CHECK(ev[2].hdr_prefixes_used == 2u);
	/* own declaration shadows the header's: nothing to inject */
	CHECK(ev[3].hdr_prefixes_used == 0u);
	REQUIRE(xmlstream_element_ns_decls(s, &ev[3], 0, out, sizeof(out),
	    &len) == 0);
	CHECK_INT_EQ(len, 0);
	xmlstream_free(s);
}

TEST(xmlstream_restart_keeps_pipelined)
{
	struct xmlstream *s = xmlstream_new(NULL, "jabber:server");
	struct xmlstream_event ev;
	const char *in = XT_HDR "<success xmlns='urn:ietf:params:xml:ns:"
	    "xmpp-sasl'/>" XT_HDR "<presence/>";

	REQUIRE(s != NULL);
	REQUIRE(xmlstream_feed(s, in, strlen(in)) == strlen(in));
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ELEMENT);
	CHECK(xt_str_is(ev.name, "success"));
	CHECK(xmlstream_buffered(s) == strlen(XT_HDR "<presence/>"));
	xmlstream_restart(s);
	CHECK_STR_EQ(xmlstream_state_name(s), "prolog");
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ELEMENT);
	CHECK(xt_str_is(ev.name, "presence"));
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_NONE);
	CHECK_INT_EQ(xmlstream_buffered(s), 0);
	xmlstream_free(s);
}

TEST(xmlstream_error_sticky)
{
	struct xmlstream_event ev;
	struct xmlstream *s = xmlstream_new(NULL, NULL);

	REQUIRE(s != NULL);
	xmlstream_feed(s, "<!-- x -->", 10);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_RESTRICTED_XML);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(xmlstream_feed(s, "x", 1), 0);
	CHECK_STR_EQ(xmlstream_state_name(s), "error");
	xmlstream_free(s);
}

/* Large stanzas through the zero-copy path: buffer growth, compaction,
 * the pre-auth -> post-auth switch and the size limit at each. */
TEST(xmlstream_reserve_commit_large)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;
	struct xmlstream_event ev;
	size_t body = 300 * 1024, i, off = 0, total, nel = 0, n;
	char *in, *p;
	void *dst;
	const char *pre = "<message to='x@a.example'><body>";
	const char *post = "</body></message>";

	xmlstream_limits_preauth(&lim);
	s = xmlstream_new(&lim, NULL);
	REQUIRE(s != NULL);
	total = strlen(XT_HDR) + 3 * (strlen(pre) + body + strlen(post));
	in = malloc(total);
	REQUIRE(in != NULL);
	p = in;
	memcpy(p, XT_HDR, strlen(XT_HDR));
	p += strlen(XT_HDR);
	for (i = 0; i < 3; i++) {
		memcpy(p, pre, strlen(pre));
		p += strlen(pre);
		memset(p, 'a' + (int)i, body);
		p += body;
		memcpy(p, post, strlen(post));
		p += strlen(post);
	}
	/* Header under pre-auth limits, then authenticate. */
	REQUIRE(xmlstream_reserve(s, &dst, &n) == 0 && n > 0);
	memcpy(dst, in, strlen(XT_HDR));
	xmlstream_commit(s, strlen(XT_HDR));
	off = strlen(XT_HDR);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	xmlstream_limits_postauth(&lim);
	CHECK(xmlstream_set_limits(s, &lim) == 0);
	while (off < total) {
		REQUIRE(xmlstream_reserve(s, &dst, &n) == 0);
		REQUIRE(n >= XMLSTREAM_READ_SLACK);
		if (n > 7000)
			n = 7000;	/* odd read sizes */
		if (n > total - off)
			n = total - off;
		memcpy(dst, in + off, n);
		xmlstream_commit(s, n);
		off += n;
		while (xmlstream_next(s, &ev) == XMLSTREAM_EV_ELEMENT) {
			CHECK(ev.raw.len == strlen(pre) + body + strlen(post));
			CHECK(ev.raw.p[strlen(pre)] == (char)('a' + nel));
			CHECK(xt_str_is(ev.to, "x@a.example"));
			nel++;
		}
		REQUIRE(ev.type == XMLSTREAM_EV_NONE);
	}
	CHECK_INT_EQ(nel, 3);
	/* Back to a small limit: the next big stanza is refused. */
	xmlstream_limits_preauth(&lim);
	CHECK(xmlstream_set_limits(s, &lim) == 0);
	for (off = strlen(XT_HDR); off < total; off += n) {
		n = xmlstream_feed(s, in + off, total - off);
		if (xmlstream_next(s, &ev) == XMLSTREAM_EV_ERROR)
			break;
		REQUIRE(n > 0);
	}
	CHECK_INT_EQ(ev.type, XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	CHECK(strstr(ev.text, "stanza size limit of 10000") != NULL);
	free(in);
	xmlstream_free(s);
}

TEST(xmlstream_limit_texts)
{
	struct xmlstream_event ev[4];
	size_t n;
	struct xmlstream *s = xt_parse_all(XT_HDR "<a><b><c><d><e><f><g><h>"
	    "<i><j><k><l><m><n><o><p><q><r><s><t><u><v><w><x><y><z><a><b><c>"
	    "<d><e><f><g><h><i><j><k><l><m><n><o><p><q><r><s><t><u><v><w><x>"
	    "<y><z><a><b><c><d><e><f><g><h><i><j><k><l><m><n>", ev, 4, &n);

	REQUIRE(n == 2);
	CHECK_INT_EQ(ev[1].cond, STREAM_ERR_POLICY_VIOLATION);
	CHECK(strstr(ev[1].text, "nesting depth limit of 64") != NULL);
	xmlstream_free(s);
}

TEST(xmlstream_limits_invalid)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;

	xmlstream_limits_default(&lim);
	CHECK_INT_EQ(lim.stanza_max, 256 * 1024);
	CHECK_INT_EQ(XMLSTREAM_STANZA_MAX_PREAUTH, 10000);
	CHECK_INT_EQ(XMLSTREAM_STANZA_MAX_POSTAUTH, 512 * 1024);
	lim.depth_max = 0;
	CHECK(xmlstream_new(&lim, NULL) == NULL);
	xmlstream_limits_default(&lim);
	lim.attrs_max = XMLSTREAM_ATTRS_MAX_CEILING + 1;
	CHECK(xmlstream_new(&lim, NULL) == NULL);
	s = xmlstream_new(NULL, NULL);
	REQUIRE(s != NULL);
	CHECK(xmlstream_set_limits(s, &lim) == -1);
	xmlstream_free(s);
}

/* ---- stream_error ---- */

TEST(stream_error_write_basic)
{
	char out[512];
	size_t len;
	const char *want = "<stream:error><not-well-formed xmlns='urn:ietf:"
	    "params:xml:ns:xmpp-streams'/></stream:error></stream:stream>";

	REQUIRE(stream_error_write(out, sizeof(out),
	    STREAM_ERR_NOT_WELL_FORMED, NULL, &len) == 0);
	CHECK(len == strlen(want) && memcmp(out, want, len) == 0);
}

TEST(stream_error_write_text_escaped)
{
	char out[512];
	size_t len;
	const char *want = "<stream:error><policy-violation xmlns='urn:ietf:"
	    "params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:"
	    "ns:xmpp-streams'>a &lt;b&gt; &amp; &apos;c&quot;</text>"
	    "</stream:error></stream:stream>";

	REQUIRE(stream_error_write(out, sizeof(out),
	    STREAM_ERR_POLICY_VIOLATION, "a <b> & 'c\"", &len) == 0);
	CHECK(len == strlen(want) && memcmp(out, want, len) == 0);
}

TEST(stream_error_write_bounds)
{
	char out[512], big[STREAM_ERROR_TEXT_MAX + 2];
	size_t len, full, cap;

	REQUIRE(stream_error_write(out, sizeof(out), STREAM_ERR_HOST_UNKNOWN,
	    "no such host", &full) == 0);
	for (cap = 0; cap < full; cap++)
		CHECK(stream_error_write(out, cap, STREAM_ERR_HOST_UNKNOWN,
		    "no such host", &len) == -1);
	CHECK(stream_error_write(out, full, STREAM_ERR_HOST_UNKNOWN,
	    "no such host", &len) == 0 && len == full);
	CHECK(stream_error_write(out, sizeof(out), STREAM_ERR_NONE, NULL,
	    &len) == -1);
	CHECK(stream_error_write(out, sizeof(out), STREAM_ERR_COUNT, NULL,
	    &len) == -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(stream_error_write(out, sizeof(out), STREAM_ERR_RESET, big,
	    &len) == -1);
}

TEST(stream_error_see_other_host)
{
	char out[512];
	size_t len;
	const char *want = "<stream:error><see-other-host xmlns='urn:ietf:"
	    "params:xml:ns:xmpp-streams'>[2001:db8::1]:5269</see-other-host>"
	    "</stream:error></stream:stream>";

	REQUIRE(stream_error_write(out, sizeof(out), STREAM_ERR_SEE_OTHER_HOST,
	    "[2001:db8::1]:5269", &len) == 0);
	CHECK(len == strlen(want) && memcmp(out, want, len) == 0);
}

TEST(stream_error_names_roundtrip)
{
	int i;
	const char *n;

	for (i = STREAM_ERR_NONE + 1; i < STREAM_ERR_COUNT; i++) {
		n = stream_error_name((enum stream_error_cond)i);
		REQUIRE(n != NULL);
		CHECK_INT_EQ(stream_error_from_name(n, strlen(n)), i);
	}
	CHECK_INT_EQ(STREAM_ERR_COUNT - 1, 25);	/* RFC 6120 §4.9.3 */
	CHECK(stream_error_name(STREAM_ERR_NONE) == NULL);
	CHECK_INT_EQ(stream_error_from_name("bogus", 5),
	    STREAM_ERR_UNDEFINED_CONDITION);
}

/* ---- fixed-table limits and buffer accounting ---- */

static enum stream_error_cond
xt_error_of(const char *in, size_t len, struct xmlstream_event *out)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;
	struct xmlstream_event ev;
	size_t off = 0, n;
	enum stream_error_cond cond = STREAM_ERR_NONE;

	xmlstream_limits_postauth(&lim);
	s = xmlstream_new(&lim, NULL);
	REQUIRE(s != NULL);
	while (cond == STREAM_ERR_NONE) {
		n = xmlstream_feed(s, in + off, len - off);
		off += n;
		while (xmlstream_next(s, &ev) != XMLSTREAM_EV_NONE)
			if (ev.type == XMLSTREAM_EV_ERROR) {
				cond = ev.cond;
				if (out)
					*out = ev;
				break;
			}
		if (off == len)
			break;
	}
	xmlstream_free(s);
	return cond;
}

TEST(xmlstream_header_prefix_limit)
{
	char in[8192];
	size_t len, i;

	len = (size_t)snprintf(in, sizeof(in), "<stream:stream xmlns="
	    "'jabber:server' " XT_SS " version='1.0'");
	for (i = 0; i < XMLSTREAM_HEADER_PREFIXES_MAX; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len,
		    " xmlns:p%zu='urn:%zu'", i, i);
	len += (size_t)snprintf(in + len, sizeof(in) - len, ">");
	/* stream + 32 more = 33 prefixes */
	CHECK_INT_EQ(xt_error_of(in, len, NULL), STREAM_ERR_POLICY_VIOLATION);
}

TEST(xmlstream_ns_stack_limit)
{
	char in[65536];
	size_t len, i, k;

	len = (size_t)snprintf(in, sizeof(in), "%s", XT_HDR);
	for (i = 0; i < 60; i++) {
		len += (size_t)snprintf(in + len, sizeof(in) - len, "<e");
		for (k = 0; k < 5; k++)
			len += (size_t)snprintf(in + len, sizeof(in) - len,
			    " xmlns:q%zu='urn:%zu'", k, i);
		len += (size_t)snprintf(in + len, sizeof(in) - len, ">");
	}
	CHECK_INT_EQ(xt_error_of(in, len, NULL), STREAM_ERR_POLICY_VIOLATION);
}

TEST(xmlstream_decode_limit)
{
	char in[65536];
	size_t len, i;
	struct xmlstream_event ev;

	len = (size_t)snprintf(in, sizeof(in), "%s<message>", XT_HDR);
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len, "<x "
		    "xmlns='urn:%0300zu&amp;'/>", i);
	CHECK_INT_EQ(xt_error_of(in, len, &ev), STREAM_ERR_POLICY_VIOLATION);
	/* The decode space is per top-level element: many small ones
	 * in separate stanzas are fine. */
	len = (size_t)snprintf(in, sizeof(in), "%s", XT_HDR);
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len, "<message>"
		    "<x xmlns='urn:%0300zu&amp;'/></message>", i);
	CHECK_INT_EQ(xt_error_of(in, len, NULL), STREAM_ERR_NONE);
}

TEST(xmlstream_keepalives_not_buffered)
{
	struct xmlstream *s = xmlstream_new(NULL, NULL);
	struct xmlstream_event ev;
	size_t i;

	REQUIRE(s != NULL);
	xmlstream_feed(s, XT_HDR, strlen(XT_HDR));
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	/* A megabyte of keepalives with a 10 000-byte stanza limit. */
	for (i = 0; i < 1024 * 1024; i++) {
		REQUIRE(xmlstream_feed(s, i % 2 ? " " : "\n", 1) == 1);
		if (i % 4096 == 0)
			CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_NONE);
	}
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_NONE);
	CHECK_INT_EQ(xmlstream_buffered(s), 0);
	xmlstream_free(s);
}

/* STARTTLS: bytes pipelined after <proceed/> are visible to the caller,
 * which must refuse them (RFC 6120 §5.4.3.3, CVE-2011-0411 class). */
TEST(xmlstream_starttls_injection_visible)
{
	struct xmlstream *s = xmlstream_new(NULL, NULL);
	struct xmlstream_event ev;
	const char *in = XT_HDR "<proceed xmlns='urn:ietf:params:xml:ns:"
	    "xmpp-tls'/><message>injected</message>";

	REQUIRE(s != NULL);
	xmlstream_feed(s, in, strlen(in));
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ELEMENT);
	CHECK(xt_str_is(ev.name, "proceed"));
	CHECK(xmlstream_buffered(s) == strlen("<message>injected</message>"));
	xmlstream_free(s);
}

/* Buffer memory stays within header + stanza_max + slack whatever the
 * peer sends, and the zero-copy reserve never offers more. */
TEST(xmlstream_buffer_bound)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;
	struct xmlstream_event ev;
	void *p;
	size_t n, total = 0, hdr = strlen(XT_HDR);

	xmlstream_limits_preauth(&lim);
	s = xmlstream_new(&lim, NULL);
	REQUIRE(s != NULL);
	xmlstream_feed(s, XT_HDR "<message><body>", hdr + 15);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	for (;;) {
		REQUIRE(xmlstream_reserve(s, &p, &n) == 0);
		if (n == 0)
			break;
		CHECK(total + n <= lim.stanza_max + XMLSTREAM_READ_SLACK);
		memset(p, 'x', n);
		xmlstream_commit(s, n);
		total += n;
		if (xmlstream_next(s, &ev) == XMLSTREAM_EV_ERROR)
			break;
	}
	CHECK_INT_EQ(ev.type, XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	xmlstream_free(s);
}

/* A multi-byte character straddling the name-length limit. */
TEST(xmlstream_name_limit_multibyte)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;
	struct xmlstream_event ev;
	const char *ok = XT_HDR "<ab\xc3\xa9/>", *bad = XT_HDR "<abc\xc3\xa9/>";

	xmlstream_limits_default(&lim);
	s = xmlstream_new(NULL, NULL);
	REQUIRE(s != NULL);
	xmlstream_feed(s, ok, strlen(ok));
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	lim.name_max = 4;
	REQUIRE(xmlstream_set_limits(s, &lim) == 0);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ELEMENT);
	xmlstream_free(s);
	s = xmlstream_new(NULL, NULL);
	REQUIRE(s != NULL);
	xmlstream_feed(s, bad, strlen(bad));
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	REQUIRE(xmlstream_set_limits(s, &lim) == 0);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	xmlstream_free(s);
}

/* A 100 KiB attribute value fed one byte per read: linear, not
 * quadratic (the test would time out otherwise). */
TEST(xmlstream_long_attr_byte_reads)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;
	struct xmlstream_event ev;
	size_t i, n = 100 * 1024;

	xmlstream_limits_postauth(&lim);
	s = xmlstream_new(&lim, NULL);
	REQUIRE(s != NULL);
	xmlstream_feed(s, XT_HDR "<message xa='", strlen(XT_HDR) + 13);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	for (i = 0; i < n; i++) {
		REQUIRE(xmlstream_feed(s, i % 7 ? "a" : "&", 1) == 1);
		if (i % 7 == 0)
			REQUIRE(xmlstream_feed(s, "amp;", 4) == 4);
		REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_NONE);
	}
	xmlstream_feed(s, "'/>", 3);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ELEMENT);
	xmlstream_free(s);
}

/* A large stanza makes the buffer grow; once it is consumed the buffer
 * goes back to a small size, so idle streams do not keep peak memory. */
TEST(xmlstream_buffer_shrinks_after_large_stanza)
{
	static const char hdr[] = "<stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' to='a.example' version='1.0'>";
	struct xmlstream_limits lim;
	struct xmlstream_event ev;
	struct xmlstream *s;
	char *big;
	size_t n = 300 * 1024, off = 0, peak = 0;

	xmlstream_limits_postauth(&lim);
	s = xmlstream_new(&lim, NULL);
	REQUIRE(s != NULL);
	CHECK(xmlstream_buffer_size(s) <= 4096);
	CHECK_INT_EQ(xmlstream_feed(s, hdr, sizeof(hdr) - 1), sizeof(hdr) - 1);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_STREAM_OPEN);
	big = malloc(n);
	REQUIRE(big != NULL);
	memcpy(big, "<message><body>", 15);
	memset(big + 15, 'x', n - 15 - 17);
	memcpy(big + n - 17, "</body></message>", 17);
	while (off < n) {
		size_t took = xmlstream_feed(s, big + off, n - off);
		REQUIRE(took > 0);
		off += took;
		if (xmlstream_buffer_size(s) > peak)
			peak = xmlstream_buffer_size(s);
	}
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ELEMENT);
	CHECK(peak >= n);
	/* The next (small) input finds the big buffer released. */
	CHECK_INT_EQ(xmlstream_feed(s, " ", 1), 1);
	CHECK(xmlstream_buffer_size(s) <= 8192);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_NONE);
	free(big);
	xmlstream_free(s);
}

/* ---- issue 14: output invariants, limits lowered mid-tag, echoes ---- */

/* The checker has teeth: the bytes the old CDATA scanner let through
 * (']' then NUL) make it fail, so the fuzz targets would stop on them. */
TEST(xmlstream_check_refuses_invalid_bytes)
{
	struct xmlstream_event ev[2];
	struct xmlstream_event bad;
	char why[256], copy[256];
	size_t n;
	struct xmlstream *s = xt_parse_all(XT_HDR "<message><body><![CDATA["
	    "]x]]></body></message>", ev, 2, &n);

	REQUIRE(n == 2 && ev[1].type == XMLSTREAM_EV_ELEMENT);
	CHECK_INT_EQ(xmlstream_check_element(s, &ev[1], why, sizeof(why)), 0);
	REQUIRE(ev[1].raw.len < sizeof(copy));
	memcpy(copy, ev[1].raw.p, ev[1].raw.len);
	copy[25] = '\0';		/* the 'x' after ']' */
	bad = ev[1];
	bad.raw.p = copy;
	CHECK_INT_EQ(xmlstream_check_element(s, &bad, why, sizeof(why)), -1);
	CHECK(strstr(why, "byte 0x00 at offset 25") != NULL);
	copy[25] = 'x';
	bad.name.p = "presence";	/* the copy re-parses to "message" */
	bad.name.len = 8;
	CHECK_INT_EQ(xmlstream_check_element(s, &bad, why, sizeof(why)), -1);
	CHECK(strstr(why, "another name") != NULL);
	CHECK_INT_EQ(xmlstream_check_error_text("a\x01", why, sizeof(why)), -1);
	CHECK_INT_EQ(xmlstream_check_error_text("a\xff", why, sizeof(why)), -1);
	CHECK_INT_EQ(xmlstream_check_error_text("\xc3\xa9t\xc3\xa9", why,
	    sizeof(why)), 0);
	xmlstream_free(s);
}

/* Feeds "<message" plus nattr attributes, with the limits lowered to
 * *low after the first 100 (or half; a reload or the dialback callback,
 * s2s_in_auth.c, arriving mid-tag), then the end of the tag.  Returns
 * the event that follows. */
static enum xmlstream_event_type
xt_attrs_lowered_mid_tag(struct xmlstream *s, size_t nattr,
    const struct xmlstream_limits *low, struct xmlstream_event *ev)
{
	char a[32];
	size_t i;
	int n;

	REQUIRE(xmlstream_feed(s, "<message", 8) == 8);
	for (i = 0; i < nattr; i++) {
		if (i == (nattr / 2 < 100 ? nattr / 2 : 100)) {
			CHECK_INT_EQ(xmlstream_next(s, ev), XMLSTREAM_EV_NONE);
			REQUIRE(xmlstream_set_limits(s, low) == 0);
		}
		n = snprintf(a, sizeof(a), " a%zu='v'", i);
		if (xmlstream_feed(s, a, (size_t)n) != (size_t)n)
			break;	/* dead after an error */
	}
	xmlstream_feed(s, "><b/></message>", 15);
	return xmlstream_next(s, ev);
}

static struct xmlstream *
xt_stream_attrs_ceiling(void)
{
	struct xmlstream_limits lim;
	struct xmlstream_event ev;
	struct xmlstream *s;

	xmlstream_limits_postauth(&lim);
	lim.attrs_max = XMLSTREAM_ATTRS_MAX_CEILING;
	s = xmlstream_new(&lim, NULL);
	REQUIRE(s != NULL);
	REQUIRE(xmlstream_feed(s, XT_HDR, strlen(XT_HDR)) == strlen(XT_HDR));
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_STREAM_OPEN);
	return s;
}

/* Issue 14 finding 5: a reload lowering limits.max_attributes below the
 * count a half-read tag had reached made the '==' test miss and attrs[]
 * overflow (ASan: index 1109 of xs_attr[128]).  Now the element in
 * progress keeps the old limit and fails precisely at it. */
TEST(xmlstream_limits_lowered_mid_tag_no_overrun)
{
	struct xmlstream_limits low;
	struct xmlstream_event ev;
	struct xmlstream *s;

	xmlstream_limits_postauth(&low);
	low.attrs_max = 2;
	s = xt_stream_attrs_ceiling();
	CHECK_INT_EQ(xt_attrs_lowered_mid_tag(s, 1200, &low, &ev),
	    XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_POLICY_VIOLATION);
	CHECK_STR_EQ(ev.text, "attribute count limit of 128 exceeded");
	xmlstream_free(s);
}

/* The element in progress is accepted under the old limits (attribute
 * count, name length, depth), and the lowered ones apply to the next
 * top-level element. */
TEST(xmlstream_limits_lowered_mid_tag)
{
	struct xmlstream_limits low;
	struct xmlstream_event ev;
	struct xmlstream *s;

	xmlstream_limits_postauth(&low);
	low.attrs_max = 2;
	low.depth_max = 1;
	low.name_max = 2;
	s = xt_stream_attrs_ceiling();
	CHECK_INT_EQ(xt_attrs_lowered_mid_tag(s, 120, &low, &ev),
	    XMLSTREAM_EV_ELEMENT);
	CHECK(xt_str_is(ev.name, "message"));
	/* The next element is held to the lowered limits. */
	xmlstream_feed(s, "<iq a='1' b='2' c='3'/>", 23);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ERROR);
	CHECK_STR_EQ(ev.text, "attribute count limit of 2 exceeded");
	xmlstream_free(s);

	s = xt_stream_attrs_ceiling();
	CHECK_INT_EQ(xt_attrs_lowered_mid_tag(s, 20, &low, &ev),
	    XMLSTREAM_EV_ELEMENT);
	xmlstream_feed(s, "<abc/>", 6);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ERROR);
	CHECK_STR_EQ(ev.text, "name length limit of 2 bytes exceeded");
	xmlstream_free(s);
}

/* Raised limits apply at once, mid-element too (the switch to the
 * post-authentication stanza size must not wait). */
TEST(xmlstream_limits_raised_mid_tag)
{
	struct xmlstream_limits lim;
	struct xmlstream_event ev;
	struct xmlstream *s;
	char a[32];
	size_t i;
	int n;

	s = xmlstream_new(NULL, NULL);
	REQUIRE(s != NULL);
	xmlstream_feed(s, XT_HDR, strlen(XT_HDR));
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_STREAM_OPEN);
	xmlstream_limits_default(&lim);
	lim.attrs_max = 4;
	REQUIRE(xmlstream_set_limits(s, &lim) == 0);
	xmlstream_feed(s, "<message a='1' b='2'", 20);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_NONE);
	lim.attrs_max = 10;
	REQUIRE(xmlstream_set_limits(s, &lim) == 0);
	for (i = 0; i < 6; i++) {
		n = snprintf(a, sizeof(a), " x%zu='v'", i);
		xmlstream_feed(s, a, (size_t)n);
	}
	xmlstream_feed(s, "/>", 2);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ELEMENT);
	xmlstream_free(s);
}

/* Lowering depth_max inside a deep stanza: the open[] table is never
 * indexed past what the element reached under the old limit. */
TEST(xmlstream_limits_lowered_mid_stanza_depth)
{
	struct xmlstream_limits lim;
	struct xmlstream_event ev;
	struct xmlstream *s;
	size_t i;

	xmlstream_limits_default(&lim);
	lim.depth_max = XMLSTREAM_DEPTH_MAX_CEILING;
	s = xmlstream_new(&lim, NULL);
	REQUIRE(s != NULL);
	xmlstream_feed(s, XT_HDR, strlen(XT_HDR));
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_STREAM_OPEN);
	for (i = 0; i < 100; i++)
		xmlstream_feed(s, "<e>", 3);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_NONE);
	lim.depth_max = 2;
	REQUIRE(xmlstream_set_limits(s, &lim) == 0);
	for (i = 0; i < 100; i++)
		xmlstream_feed(s, "<e>", 3);
	CHECK_INT_EQ(xmlstream_next(s, &ev), XMLSTREAM_EV_ERROR);
	CHECK_STR_EQ(ev.text, "nesting depth limit of 128 exceeded");
	xmlstream_free(s);
}

/* Issue 14 finding 9: the encoding name of the XML declaration is not
 * text the tokenizer validates, and it was echoed raw into the error
 * text, and from there into <text/> and the log. */
TEST(xmlstream_error_text_hostile_encoding)
{
	static const char in[] = "<?xml version='1.0' encoding=\"a<b'c&d"
	    "\x01\x1b\xff\xc3]]>\"?>" XT_HDR_NODECL;
	struct xmlstream_event ev;
	struct xmlstream *s = xmlstream_new(NULL, NULL);
	char out[2048], why[256];
	size_t len;

	REQUIRE(s != NULL);
	xmlstream_feed(s, in, sizeof(in) - 1);
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_ERROR);
	CHECK_INT_EQ(ev.cond, STREAM_ERR_UNSUPPORTED_ENCODING);
	CHECK_STR_EQ(ev.text, "encoding 'a<b'c&d????]]>' not supported, "
	    "UTF-8 required");
	CHECK_INT_EQ(xmlstream_check_error_text(ev.text, why, sizeof(why)), 0);
	REQUIRE(stream_error_write(out, sizeof(out), ev.cond, ev.text,
	    &len) == 0);
	if (xmlstream_check_stream_error(out, len, why, sizeof(why)) != 0)
		test_fail_at(__FILE__, __LINE__, "%s", why);
	xmlstream_free(s);
}

/* stream_error_write is given texts that hold peer bytes: whatever they
 * are, the output is well-formed XML in which the markup characters are
 * references and the bytes no XML document may hold are U+FFFD. */
TEST(stream_error_write_hostile_bytes)
{
	static const char text[] = "a<b'c&d\"e>\x01\x1b\x7f\xff\xc3 \xed\xa0\x80"
	    "\xef\xbf\xbe\t\xc3\xa9";
	const char *want = "<stream:error><policy-violation xmlns='urn:ietf:"
	    "params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:"
	    "ns:xmpp-streams'>a&lt;b&apos;c&amp;d&quot;e&gt;"
	    "\xef\xbf\xbd\xef\xbf\xbd\x7f\xef\xbf\xbd\xef\xbf\xbd "
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\t\xc3\xa9</text>"
	    "</stream:error></stream:stream>";
	char out[1024], why[256];
	size_t len;

	REQUIRE(stream_error_write(out, sizeof(out),
	    STREAM_ERR_POLICY_VIOLATION, text, &len) == 0);
	CHECK(len == strlen(want) && memcmp(out, want, len) == 0);
	if (xmlstream_check_stream_error(out, len, why, sizeof(why)) != 0)
		test_fail_at(__FILE__, __LINE__, "%s", why);
	/* see-other-host carries its text as content: same escaping. */
	REQUIRE(stream_error_write(out, sizeof(out), STREAM_ERR_SEE_OTHER_HOST,
	    "h\x01<", &len) == 0);
	if (xmlstream_check_stream_error(out, len, why, sizeof(why)) != 0)
		test_fail_at(__FILE__, __LINE__, "%s", why);
}
