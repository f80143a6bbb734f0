/*
 * A Debian Release/InRelease file (deb822 fields): the suite names, the
 * validity window, and the SHA256 list of the indexes it vouches for.
 */
#ifndef IB_DS_RELEASE_H
#define IB_DS_RELEASE_H

#include <stddef.h>
#include <time.h>

struct release_file {
	char	*path;			/* main/binary-amd64/Packages.xz */
	char	 sha256[65];
	size_t	 size;
};

struct release {
	char			*suite;
	char			*codename;
	time_t			 valid_until;	/* 0: none */
	int			 by_hash;
	int			 no_arch_all;	/* "all" is in the arch indexes */
	struct release_file	*files;
	size_t			 nfiles;
};

/* Parses text (the signed part). 0, or -1 with why. */
int	release_parse(const char *text, struct release *, char *err,
	    size_t errlen);
void	release_free(struct release *);
/* The entry for path, or NULL. */
const struct release_file *release_find(const struct release *,
	    const char *path);
/* An RFC 2822 date as Release files write it; (time_t)-1 when bad. */
time_t	release_date(const char *);

#endif
