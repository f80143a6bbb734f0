/*
 * Release file parsing. See release.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "depsolver/release.h"
#include "util.h"

#define RELEASE_MAX_FILES 100000

time_t
release_date(const char *s)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	while (isspace((unsigned char)*s))
		s++;
	/* "Sat, 10 Jun 2023 08:53:33 UTC"; the weekday is optional. */
	if (strchr(s, ',') != NULL)
		s = strchr(s, ',') + 1;
	end = strptime(s, " %d %b %Y %H:%M:%S", &tm);
	if (end == NULL)
		return (time_t)-1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0' && strcmp(end, "UTC") != 0 && strcmp(end, "GMT") != 0
	    && strcmp(end, "+0000") != 0 && strcmp(end, "Z") != 0)
		return (time_t)-1;
	return timegm(&tm);
}

/* One "hash size path" line of the SHA256 field. */
static int
add_file(struct release *r, const char *line)
{
	char	 hash[65], path[1024];
	unsigned long long size;
	size_t	 i;

	if (sscanf(line, " %64s %llu %1023s", hash, &size, path) != 3 ||
	    strlen(hash) != 64)
		return -1;
	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)hash[i]))
			return -1;
	if (r->nfiles >= RELEASE_MAX_FILES)
		return -1;
	r->files = xrealloc(r->files, (r->nfiles + 1) * sizeof(*r->files));
	r->files[r->nfiles].path = xstrdup(path);
	for (i = 0; i < 65; i++)
		r->files[r->nfiles].sha256[i] = (char)tolower(
		    (unsigned char)hash[i]);
	r->files[r->nfiles].size = (size_t)size;
	r->nfiles++;
	return 0;
}

int
release_parse(const char *text, struct release *r, char *err, size_t errlen)
{
	const char	*line, *nl;
	char		 field[64] = "", *l = NULL;
	size_t		 n;
	int		 rv = -1;

	memset(r, 0, sizeof(*r));
	for (line = text; *line != '\0'; line = *nl ? nl + 1 : nl) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = line + strlen(line);
		n = (size_t)(nl - line);
		free(l);
		l = xstrndup(line, n);
		rtrim(l);
		if (*l == '\0') {
			/* An empty line ends the paragraph: stop there. */
			if (r->suite || r->codename || r->nfiles)
				break;
			continue;
		}
		if (*l == ' ' || *l == '\t') {
			if (strcmp(field, "SHA256") == 0 && add_file(r, l) == -1) {
				snprintf(err, errlen, "bad SHA256 line in "
				    "Release: %.100s", l);
				goto cleanup;
			}
			continue;
		}
		{
			char *colon = strchr(l, ':'), *val;

			if (colon == NULL || (size_t)(colon - l) >= sizeof(field)) {
				snprintf(err, errlen, "bad line in Release: "
				    "%.100s", l);
				goto cleanup;
			}
			memcpy(field, l, (size_t)(colon - l));
			field[colon - l] = '\0';
			for (val = colon + 1; isspace((unsigned char)*val);)
				val++;
			if (strcasecmp(field, "Suite") == 0) {
				free(r->suite);
				r->suite = xstrdup(val);
			} else if (strcasecmp(field, "Codename") == 0) {
				free(r->codename);
				r->codename = xstrdup(val);
			} else if (strcasecmp(field, "Valid-Until") == 0) {
				r->valid_until = release_date(val);
				if (r->valid_until == (time_t)-1) {
					snprintf(err, errlen, "bad Valid-Until "
					    "in Release: %.60s", val);
					goto cleanup;
				}
			} else if (strcasecmp(field, "Acquire-By-Hash") == 0)
				r->by_hash = strcasecmp(val, "yes") == 0;
			else if (strcasecmp(field,
			    "No-Support-for-Architecture-all") == 0)
				r->no_arch_all = 1;
		}
	}
	if (r->nfiles == 0) {
		snprintf(err, errlen, "the Release file lists no SHA256 "
		    "checksums");
		goto cleanup;
	}
	rv = 0;
cleanup:
	free(l);
	if (rv == -1)
		release_free(r);
	return rv;
}

void
release_free(struct release *r)
{
	size_t	 i;

	for (i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	free(r->suite);
	free(r->codename);
	memset(r, 0, sizeof(*r));
}

const struct release_file *
release_find(const struct release *r, const char *path)
{
	size_t	 i;

	for (i = 0; i < r->nfiles; i++)
		if (strcmp(r->files[i].path, path) == 0)
			return &r->files[i];
	return NULL;
}
