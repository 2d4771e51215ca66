/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stanza_error.c - RFC 6120 §8.3.3's table of stanza error conditions
 * (stanza_error.h): one row per condition, its name and its type.
 *
 * Where §8.3.3 allows two types the first is kept: feature-not-implemented
 * "cancel" (or "modify"), policy-violation "modify" (or "wait"),
 * unexpected-request "wait" (or "modify").  undefined-condition takes any
 * type; "cancel" says the proxy has nothing better to offer.
 */
#include "stanza_error.h"

#include <string.h>

static const struct {
	const char *name;
	enum stanza_error_type type;
} stanza_errors[STANZA_ERR_COUNT] = {
	[STANZA_ERR_BAD_REQUEST] = { "bad-request", STANZA_ERROR_TYPE_MODIFY },
	[STANZA_ERR_CONFLICT] = { "conflict", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_FEATURE_NOT_IMPLEMENTED] = { "feature-not-implemented", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_FORBIDDEN] = { "forbidden", STANZA_ERROR_TYPE_AUTH },
	[STANZA_ERR_GONE] = { "gone", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_INTERNAL_SERVER_ERROR] = { "internal-server-error", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_ITEM_NOT_FOUND] = { "item-not-found", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_JID_MALFORMED] = { "jid-malformed", STANZA_ERROR_TYPE_MODIFY },
	[STANZA_ERR_NOT_ACCEPTABLE] = { "not-acceptable", STANZA_ERROR_TYPE_MODIFY },
	[STANZA_ERR_NOT_ALLOWED] = { "not-allowed", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_NOT_AUTHORIZED] = { "not-authorized", STANZA_ERROR_TYPE_AUTH },
	[STANZA_ERR_POLICY_VIOLATION] = { "policy-violation", STANZA_ERROR_TYPE_MODIFY },
	[STANZA_ERR_RECIPIENT_UNAVAILABLE] = { "recipient-unavailable", STANZA_ERROR_TYPE_WAIT },
	[STANZA_ERR_REDIRECT] = { "redirect", STANZA_ERROR_TYPE_MODIFY },
	[STANZA_ERR_REGISTRATION_REQUIRED] = { "registration-required", STANZA_ERROR_TYPE_AUTH },
	[STANZA_ERR_REMOTE_SERVER_NOT_FOUND] = { "remote-server-not-found", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_REMOTE_SERVER_TIMEOUT] = { "remote-server-timeout", STANZA_ERROR_TYPE_WAIT },
	[STANZA_ERR_RESOURCE_CONSTRAINT] = { "resource-constraint", STANZA_ERROR_TYPE_WAIT },
	[STANZA_ERR_SERVICE_UNAVAILABLE] = { "service-unavailable", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_SUBSCRIPTION_REQUIRED] = { "subscription-required", STANZA_ERROR_TYPE_AUTH },
	[STANZA_ERR_UNDEFINED_CONDITION] = { "undefined-condition", STANZA_ERROR_TYPE_CANCEL },
	[STANZA_ERR_UNEXPECTED_REQUEST] = { "unexpected-request", STANZA_ERROR_TYPE_WAIT },
};

static enum stanza_error
stanza_error_valid(enum stanza_error e)
{
	return (unsigned)e < STANZA_ERR_COUNT ? e : STANZA_ERR_UNDEFINED_CONDITION;
}

const char *
stanza_error_name(enum stanza_error e)
{
	return stanza_errors[stanza_error_valid(e)].name;
}

enum stanza_error_type
stanza_error_type(enum stanza_error e)
{
	return stanza_errors[stanza_error_valid(e)].type;
}

const char *
stanza_error_type_name(enum stanza_error_type t)
{
	switch (t) {
	case STANZA_ERROR_TYPE_AUTH:
		return "auth";
	case STANZA_ERROR_TYPE_CANCEL:
		return "cancel";
	case STANZA_ERROR_TYPE_CONTINUE:
		return "continue";
	case STANZA_ERROR_TYPE_MODIFY:
		return "modify";
	case STANZA_ERROR_TYPE_WAIT:
		return "wait";
	}
	return "cancel";
}

enum stanza_error
stanza_error_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < STANZA_ERR_COUNT; i++)
		if (strcmp(stanza_errors[i].name, name) == 0)
			return (enum stanza_error)i;
	return STANZA_ERR_UNDEFINED_CONDITION;
}
