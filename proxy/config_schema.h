/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_schema.h - the shape of the schema table (config_schema.c) that
 * drives the configuration loader (config.c) and printers
 * (config_print.c).  Internal to the config module.
 */
#ifndef XE_CONFIG_SCHEMA_H
#define XE_CONFIG_SCHEMA_H

#include <stddef.h>

enum cfg_type {
	CFG_OBJECT,		/* nested struct at offset; children */
	CFG_STRING,		/* char[size] */
	CFG_DOMAIN,		/* char[size], a DNS domain name, stored lower-case */
	CFG_PATH,		/* char[size], relative paths resolved against the file's dir */
	CFG_ADDR,		/* char[size], "IPv4:port" or "[IPv6]:port" */
	CFG_PIN,		/* char[size], base64 of a SHA-256 (44 chars) */
	CFG_INT,		/* int, within [min, max] */
	CFG_BOOL,		/* int 0/1 */
	CFG_ENUM,		/* int index into enum_names */
	CFG_LIST,		/* array of one scalar type (children[0]) */
	CFG_OBJECT_LIST,	/* array of objects (children) */
	CFG_OBJECT_MAP,		/* object of NAME: {children}; NAME stored first */
};

/* flags */
#define CFG_REQUIRED	0x01	/* must be present (no default) */
#define CFG_SECRET	0x02	/* file must not be readable by group/others */
#define CFG_CERT	0x04	/* file must hold PEM certificates */
#define CFG_KEY		0x08	/* file must hold a private key */
#define CFG_CA		0x10	/* file must hold CA certificates */
#define CFG_SECRET_FILE	0x20	/* file holds a secret of >= 32 bytes */

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;			/* in the parent struct */
	size_t size;			/* strings: field size; lists: stride */
	size_t count_offset;		/* lists and maps: offset of a size_t */
	size_t max_items;		/* lists and maps */
	size_t present_offset;		/* optional objects: int set when present */
	size_t template_offset;		/* maps: element struct copied first */
	long min, max;			/* CFG_INT */
	const char *def;		/* default, as text; lists: comma-separated */
	const char *const *enum_names;	/* CFG_ENUM, NULL-terminated */
	const struct cfg_key *children;	/* terminated by a NULL name */
	unsigned flags;
	const char *help;
};

/* The root of the schema: the keys of the top-level JSON object. */
extern const struct cfg_key config_schema_root[];

#endif
