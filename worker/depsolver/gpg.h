/*
 * OpenPGP checks of repository metadata with gpgv (fork/exec): a
 * clearsigned InRelease or a detached repomd.xml.asc against the keyrings
 * a repository names. Armored keys are dearmored into a temporary
 * directory, since gpgv reads binary keyrings only.
 */
#ifndef IB_DS_GPG_H
#define IB_DS_GPG_H

#include <stddef.h>

#include "util.h"

#define GPG_DEBIAN_KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"
#define GPG_GPGV	"gpgv"

struct keyring {
	char	*dir;		/* our temporary directory */
	char	**files;	/* keyring files for gpgv, NULL-terminated */
	size_t	 n;
};

/* A new empty keyring set with its temporary directory; NULL + err. */
struct keyring	*gpg_keyring_new(char *err, size_t errlen);
/* Removes the temporary directory. Accepts NULL. */
void		 gpg_keyring_free(struct keyring *);
/* Adds a binary or armored keyring file (copied when armored). */
int		 gpg_keyring_add_file(struct keyring *, const char *path,
		    char *err, size_t errlen);
/* Adds keys given as data (armored or binary). */
int		 gpg_keyring_add_data(struct keyring *, const char *data,
		    size_t len, char *err, size_t errlen);

/*
 * Decodes an ASCII-armored block into out (binary OpenPGP); 0, or -1 when
 * data holds no armor.
 */
int		 gpg_dearmor(const char *data, size_t len, struct buf *out);

/*
 * Checks a clearsigned document: at least one good signature by a key of
 * kr and no bad one. On success out holds the signed text, as gpgv
 * extracted it (what follows the signature is never trusted). 0, or -1
 * with why.
 */
int		 gpg_verify_clearsigned(const struct keyring *,
		    const char *data, size_t len, struct buf *out,
		    char *err, size_t errlen);
/* The same for data and its detached (armored or binary) signature. */
int		 gpg_verify_detached(const struct keyring *, const char *data,
		    size_t len, const char *sig, size_t siglen,
		    char *err, size_t errlen);

#endif
