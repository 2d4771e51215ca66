/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stanza_error.h - the stanza error conditions of RFC 6120 §8.3.3, each
 * with its element name and the error type §8.3.3 associates with it
 * (stanza_error.c).  Bounces (bounce.c) and the router name a condition
 * by this enum; its name and type come from one table, so a bounce can
 * neither misspell a condition nor give it a type the RFC does not.
 */
#ifndef XE_STANZA_ERROR_H
#define XE_STANZA_ERROR_H

/* In the order of RFC 6120 §8.3.3.1 to §8.3.3.22. */
enum stanza_error {
	STANZA_ERR_BAD_REQUEST,
	STANZA_ERR_CONFLICT,
	STANZA_ERR_FEATURE_NOT_IMPLEMENTED,
	STANZA_ERR_FORBIDDEN,
	STANZA_ERR_GONE,
	STANZA_ERR_INTERNAL_SERVER_ERROR,
	STANZA_ERR_ITEM_NOT_FOUND,
	STANZA_ERR_JID_MALFORMED,
	STANZA_ERR_NOT_ACCEPTABLE,
	STANZA_ERR_NOT_ALLOWED,
	STANZA_ERR_NOT_AUTHORIZED,
	STANZA_ERR_POLICY_VIOLATION,
	STANZA_ERR_RECIPIENT_UNAVAILABLE,
	STANZA_ERR_REDIRECT,
	STANZA_ERR_REGISTRATION_REQUIRED,
	STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
	STANZA_ERR_REMOTE_SERVER_TIMEOUT,
	STANZA_ERR_RESOURCE_CONSTRAINT,
	STANZA_ERR_SERVICE_UNAVAILABLE,
	STANZA_ERR_SUBSCRIPTION_REQUIRED,
	STANZA_ERR_UNDEFINED_CONDITION,
	STANZA_ERR_UNEXPECTED_REQUEST,
	STANZA_ERR_COUNT
};

/* RFC 6120 §8.3.2: what the sender may do about the error. */
enum stanza_error_type {
	STANZA_ERROR_TYPE_AUTH,		/* retry after providing credentials */
	STANZA_ERROR_TYPE_CANCEL,	/* do not retry */
	STANZA_ERROR_TYPE_CONTINUE,	/* proceed: only a warning */
	STANZA_ERROR_TYPE_MODIFY,	/* retry after changing the data */
	STANZA_ERROR_TYPE_WAIT,		/* retry after waiting */
};

/* The condition's element name ("service-unavailable"); "undefined-
 * condition" for a value out of range. */
const char *stanza_error_name(enum stanza_error e);
/* The type §8.3.3 says the condition SHOULD have (the first it names
 * where it names two). */
enum stanza_error_type stanza_error_type(enum stanza_error e);
/* "auth", "cancel", "continue", "modify", "wait". */
const char *stanza_error_type_name(enum stanza_error_type t);
/* The condition named name; STANZA_ERR_UNDEFINED_CONDITION for a name
 * §8.3.3 does not define. */
enum stanza_error stanza_error_from_name(const char *name);

#endif
