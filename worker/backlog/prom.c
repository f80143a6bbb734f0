/*
 * The exposition format, line by line: NAME[{LABELS}] VALUE [TIMESTAMP].
 * A label value is a quoted string with \\, \" and \n escapes, so a '}' or
 * a space inside one does not end the label set.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

#define PROM_LINE_MAX	65536

static int
name_char(int c, int first)
{
	return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/*
 * Reads one sample line [p, end): the name's length into *nlen and the
 * value into *v. Returns 0, or -1 when the line is not a sample.
 */
static int
sample(const char *p, const char *end, size_t *nlen, double *v)
{
	const char	*s = p;
	char		 num[64], *e;
	size_t		 n;
	int		 quoted = 0;

	if (p == end || !name_char((unsigned char)*p, 1))
		return -1;
	while (p < end && name_char((unsigned char)*p, 0))
		p++;
	*nlen = p - s;
	if (p < end && *p == '{') {
		for (p++; p < end; p++) {
			if (quoted && *p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = !quoted;
			else if (!quoted && *p == '}')
				break;
		}
		if (p == end)
			return -1;
		p++;
	}
	if (p == end || (*p != ' ' && *p != '\t'))
		return -1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	for (n = 0; p + n < end && p[n] != ' ' && p[n] != '\t'; n++)
		;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	*v = strtod(num, &e);
	return *e == '\0' ? 0 : -1;
}

int
prom_sum(const char *text, size_t len, const char *const *names,
    double *sum, const char **found, char *err, size_t errlen)
{
	const char	*end = text + len, *p, *nl;
	size_t		 i, n, nlen, best = (size_t)-1;
	double		 v, total = 0;

	/* The first pass finds which of the names is there. */
	for (p = text; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (*p == '#' || sample(p, nl, &nlen, &v) == -1)
			continue;
		for (i = 0; names[i] != NULL && i < best; i++)
			if (strlen(names[i]) == nlen &&
			    strncmp(p, names[i], nlen) == 0)
				best = i;
	}
	if (best == (size_t)-1) {
		snprintf(err, errlen, "no metric named");
		for (i = 0; names[i] != NULL; i++) {
			n = strlen(err);
			snprintf(err + n, errlen - n, "%s %s", i ? " or" : "",
			    names[i]);
		}
		return -1;
	}
	for (p = text; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (*p == '#' || (size_t)(nl - p) > PROM_LINE_MAX)
			continue;
		nlen = strlen(names[best]);
		if ((size_t)(nl - p) <= nlen ||
		    strncmp(p, names[best], nlen) != 0 ||
		    name_char((unsigned char)p[nlen], 0))
			continue;
		if (sample(p, nl, &nlen, &v) == -1) {
			snprintf(err, errlen, "unreadable sample of %s: %.*s",
			    names[best], (int)(nl - p > 120 ? 120 : nl - p), p);
			return -1;
		}
		/* A gauge that is NaN or infinite says nothing usable. */
		if (!isfinite(v)) {
			snprintf(err, errlen, "%s has a sample that is not a "
			    "number", names[best]);
			return -1;
		}
		total += v;
	}
	*sum = total;
	*found = names[best];
	return 0;
}
