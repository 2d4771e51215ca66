/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stanza_error.c - proxy/stanza_error.c against RFC 6120 §8.3.3:
 * every defined condition, in the RFC's order, with a type the RFC's text
 * allows for it ("the associated error type SHOULD be ...").
 */
#include "test.h"

#include <string.h>

#include "stanza_error.h"

/* RFC 6120 §8.3.3.1 to §8.3.3.22, copied from the RFC: the condition and
 * the types its paragraph names (undefined-condition: "any error type"). */
static const struct {
	const char *section, *name, *types;
} rfc6120[] = {
	{ "8.3.3.1", "bad-request", "modify" },
	{ "8.3.3.2", "conflict", "cancel" },
	{ "8.3.3.3", "feature-not-implemented", "cancel modify" },
	{ "8.3.3.4", "forbidden", "auth" },
	{ "8.3.3.5", "gone", "cancel" },
	{ "8.3.3.6", "internal-server-error", "cancel" },
	{ "8.3.3.7", "item-not-found", "cancel" },
	{ "8.3.3.8", "jid-malformed", "modify" },
	{ "8.3.3.9", "not-acceptable", "modify" },
	{ "8.3.3.10", "not-allowed", "cancel" },
	{ "8.3.3.11", "not-authorized", "auth" },
	{ "8.3.3.12", "policy-violation", "modify wait" },
	{ "8.3.3.13", "recipient-unavailable", "wait" },
	{ "8.3.3.14", "redirect", "modify" },
	{ "8.3.3.15", "registration-required", "auth" },
	{ "8.3.3.16", "remote-server-not-found", "cancel" },
	{ "8.3.3.17", "remote-server-timeout", "wait" },
	{ "8.3.3.18", "resource-constraint", "wait" },
	{ "8.3.3.19", "service-unavailable", "cancel" },
	{ "8.3.3.20", "subscription-required", "auth" },
	{ "8.3.3.21", "undefined-condition", "auth cancel continue modify wait" },
	{ "8.3.3.22", "unexpected-request", "wait modify" },
};

/* 1 if word is one of the space-separated words of list. */
static int
word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

TEST(stanza_error_every_condition_of_rfc6120)
{
	size_t i;

	CHECK_INT_EQ(STANZA_ERR_COUNT, sizeof(rfc6120) / sizeof(rfc6120[0]));
	for (i = 0; i < sizeof(rfc6120) / sizeof(rfc6120[0]); i++) {
		enum stanza_error e = (enum stanza_error)i;
		const char *type = stanza_error_type_name(stanza_error_type(e));

		if (strcmp(stanza_error_name(e), rfc6120[i].name) != 0)
			test_fail_at(__FILE__, __LINE__, "§%s: %s, want %s", rfc6120[i].section,
			    stanza_error_name(e), rfc6120[i].name);
		if (!word_in(type, rfc6120[i].types))
			test_fail_at(__FILE__, __LINE__, "§%s %s: type %s, RFC 6120 says %s",
			    rfc6120[i].section, rfc6120[i].name, type, rfc6120[i].types);
		CHECK_INT_EQ(stanza_error_from_name(rfc6120[i].name), e);
	}
}

TEST(stanza_error_unknown_names_and_values)
{
	CHECK_INT_EQ(stanza_error_from_name("no-such-condition"), STANZA_ERR_UNDEFINED_CONDITION);
	CHECK_INT_EQ(stanza_error_from_name(""), STANZA_ERR_UNDEFINED_CONDITION);
	CHECK_INT_EQ(stanza_error_from_name("Service-Unavailable"), STANZA_ERR_UNDEFINED_CONDITION);
	/* A stream error's name is not a stanza error's. */
	CHECK_INT_EQ(stanza_error_from_name("host-unknown"), STANZA_ERR_UNDEFINED_CONDITION);
	CHECK_STR_EQ(stanza_error_name(STANZA_ERR_COUNT), "undefined-condition");
	CHECK_STR_EQ(stanza_error_name((enum stanza_error)-1), "undefined-condition");
}

TEST(stanza_error_type_names)
{
	CHECK_STR_EQ(stanza_error_type_name(STANZA_ERROR_TYPE_AUTH), "auth");
	CHECK_STR_EQ(stanza_error_type_name(STANZA_ERROR_TYPE_CANCEL), "cancel");
	CHECK_STR_EQ(stanza_error_type_name(STANZA_ERROR_TYPE_CONTINUE), "continue");
	CHECK_STR_EQ(stanza_error_type_name(STANZA_ERROR_TYPE_MODIFY), "modify");
	CHECK_STR_EQ(stanza_error_type_name(STANZA_ERROR_TYPE_WAIT), "wait");
}
