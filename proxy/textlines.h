/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textlines.h - reading an operator's or our own line-oriented text file
 * (the domain blocklist, the known-contacts file) as hostile input: every
 * line bounded, no NUL byte, errors that name the file and the line.
 */
#ifndef XE_TEXTLINES_H
#define XE_TEXTLINES_H

#include <stddef.h>

struct textlines {
	const char *source;		/* named in errors */
	const char *text;
	size_t len, off;
	size_t lineno;			/* of the line last returned */
	size_t line_max;		/* bytes, without the newline */
};

void textlines_init(struct textlines *t, const char *source, const char *text, size_t len,
    size_t line_max);
/* The next line, without its newline (the last one may lack it): 1 with
 * *line and *llen; 0 at the end; -1 with "source: line N: reason" in err
 * for a line longer than line_max or holding a NUL byte. */
int textlines_next(struct textlines *t, const char **line, size_t *llen, char *err, size_t errlen);
/* "source: line N: " (line 0: "source: ") and the formatted reason. */
void textlines_err(char *err, size_t errlen, const char *source, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
