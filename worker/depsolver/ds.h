/*
 * ib-depsolve: a depsolver on libsolv that speaks the request and answer
 * of osbuild-depsolve-dnf (API version 1), for rpm-md and Debian
 * repositories. This header holds what every module of it shares: the
 * parsed request and the error that becomes {"kind","reason"}.
 */
#ifndef IB_DS_H
#define IB_DS_H

#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

/* The error kinds of osbuild-depsolve-dnf; the worker maps them to ids. */
#define DS_INVALID	"InvalidRequest"
#define DS_REPO		"RepoError"
#define DS_NOREPOS	"NoReposError"
#define DS_MARKING	"MarkingErrors"
#define DS_DEPSOLVE	"DepsolveError"

#define DS_REASON_MAX	4096

struct ds_err {
	const char	*kind;		/* NULL: no error */
	char		 reason[DS_REASON_MAX];
};

/* Sets the error unless one is set already (the first cause wins). */
void	ds_seterr(struct ds_err *, const char *kind, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* A NULL-terminated vector of strings; strv_free accepts NULL. */
char	**strv_from_json(json_object *, size_t max, int *bad);
size_t	  strv_len(char **);
void	  strv_free(char **);

enum ds_repo_type { DS_RPMMD, DS_DEB };

/* Metadata expiry: seconds, or one of these. */
#define DS_EXPIRE_NEVER	(-1L)
#define DS_EXPIRE_DEFAULT 20L	/* the reference's "20s" */

struct ds_repo {
	char		 *id;
	char		 *name;
	enum ds_repo_type type;
	char		**baseurls;	/* plain http(s)/file URLs */
	char		 *mirrorlist;
	char		 *metalink;
	char		**gpgkeys;	/* armored keys, paths or URLs */
	int		  gpgcheck;
	int		  repo_gpgcheck;
	int		  sslverify;
	char		 *sslcacert;
	char		 *sslclientkey;
	char		 *sslclientcert;
	long		  expire;	/* seconds or DS_EXPIRE_NEVER */
	/* Debian only. */
	char		 *suite;
	char		**components;
	char		 *debarch;
	int		  trusted;	/* skip the InRelease signature */
	/* Filled when loaded. */
	void		 *solv;		/* the libsolv Repo */
	const char	 *baseurl;	/* the base that answered; borrowed */
};

struct ds_trans {
	char	**specs;
	char	**excludes;
	char	**repo_ids;		/* NULL: all */
	char	**modules;
	int	  weak;
};

enum ds_cmd { DS_CMD_DEPSOLVE, DS_CMD_SEARCH, DS_CMD_DUMP };

struct ds_request {
	enum ds_cmd	 cmd;
	int		 api;		/* api_version: 1 (none given) or 2 */
	char		*arch;
	char		*releasever;
	char		*cachedir;
	char		*proxy;
	struct ds_repo	*repos;
	size_t		 nrepos;
	struct ds_trans	*trans;
	size_t		 ntrans;
	char		**search;	/* names or globs */
	int		 latest;
};

/* request.c: the JSON request; 0 or -1 with err set (InvalidRequest). */
int	 request_parse(json_object *, struct ds_request *, struct ds_err *);
void	 request_free(struct ds_request *);
/* "20s", "6h", "2d", "0", "-1", "never"; -2 when malformed. */
long	 request_parse_expire(const char *);
/* The Debian architecture of an rpm-style one (x86_64 -> amd64). */
const char *request_debarch(const char *);

#endif
