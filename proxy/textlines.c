/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textlines.c - see textlines.h.
 */
#include "textlines.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
textlines_init(struct textlines *t, const char *source, const char *text, size_t len,
    size_t line_max)
{
	memset(t, 0, sizeof(*t));
	t->source = source;
	t->text = text;
	t->len = len;
	t->line_max = line_max;
}

int
textlines_next(struct textlines *t, const char **line, size_t *llen, char *err, size_t errlen)
{
	const char *p, *nl;
	size_t n;

	if (t->off >= t->len)
		return 0;
	p = t->text + t->off;
	nl = memchr(p, '\n', t->len - t->off);
	n = nl != NULL ? (size_t)(nl - p) : t->len - t->off;
	t->lineno++;
	t->off += n + (nl != NULL);
	if (n > t->line_max) {
		textlines_err(err, errlen, t->source, t->lineno, "longer than %zu bytes", t->line_max);
		return -1;
	}
	if (memchr(p, '\0', n) != NULL) {
		textlines_err(err, errlen, t->source, t->lineno, "a NUL byte (not a text file?)");
		return -1;
	}
	*line = p;
	*llen = n;
	return 1;
}

void
textlines_err(char *err, size_t errlen, const char *source, size_t line, const char *fmt, ...)
{
	char why[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(err, errlen, "%s: line %zu: %s", source, line, why);
	else
		snprintf(err, errlen, "%s: %s", source, why);
}
