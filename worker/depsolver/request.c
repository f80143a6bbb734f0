/*
 * The request of osbuild-depsolve-dnf (API version 1) read into a
 * struct ds_request, with bounds on everything, and the Debian extension:
 * a repository is Debian when it has a "debian" object or its baseurls use
 * the deb+http(s):// form (see README.md).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depsolver/ds.h"
#include "jsonutil.h"
#include "util.h"

#define MAX_REPOS	256
#define MAX_TRANS	64
#define MAX_SPECS	65536
#define MAX_URLS	64
#define MAX_STR		4096

void
ds_seterr(struct ds_err *e, const char *kind, const char *fmt, ...)
{
	va_list	 ap;

	if (e->kind != NULL)
		return;
	e->kind = kind;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
}

/*
 * A vector of the strings of a JSON array (NULL or null: an empty one).
 * *bad is set when o is not an array of at most max short strings.
 */
char **
strv_from_json(json_object *o, size_t max, int *bad)
{
	char	**v;
	size_t	  i, n;

	if (o == NULL || json_object_is_type(o, json_type_null))
		return xcalloc(1, sizeof(char *));
	if (!json_object_is_type(o, json_type_array) ||
	    (n = json_object_array_length(o)) > max) {
		*bad = 1;
		return xcalloc(1, sizeof(char *));
	}
	v = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(o, i);

		if (!json_object_is_type(s, json_type_string) ||
		    json_object_get_string_len(s) > MAX_STR) {
			*bad = 1;
			v[i] = xstrdup("");
		} else
			v[i] = xstrdup(json_object_get_string(s));
	}
	return v;
}

size_t
strv_len(char **v)
{
	size_t	 n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

void
strv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static json_object *
get(json_object *o, const char *key)
{
	json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

/* A string field: NULL when absent; *bad when not a short string (or
 * one with a NUL in it). */
static char *
get_str(json_object *o, const char *key, int *bad)
{
	const char	*s;

	if (get(o, key) == NULL)
		return NULL;
	if ((s = json_get_str(o, key)) == NULL || strlen(s) > MAX_STR) {
		*bad = 1;
		return NULL;
	}
	return xstrdup(s);
}

static int
get_bool(json_object *o, const char *key, int def, int *bad)
{
	int	 v = def;

	if (get(o, key) == NULL)
		return def;
	if (!json_get_bool(o, key, &v))
		*bad = 1;
	return v;
}

long
request_parse_expire(const char *s)
{
	char	*end;
	long	 n, mul = 1;

	if (s == NULL || *s == '\0')
		return DS_EXPIRE_DEFAULT;
	if (strcmp(s, "never") == 0 || strcmp(s, "-1") == 0)
		return DS_EXPIRE_NEVER;
	if (!isdigit((unsigned char)*s))
		return -2;
	n = strtol(s, &end, 10);
	if (n < 0 || n > 100L * 365 * 86400)
		return -2;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	default:
		return -2;
	}
	if (*end != '\0' && end[1] != '\0')
		return -2;
	return n * mul;
}

const char *
request_debarch(const char *arch)
{
	static const struct {
		const char	*rpm, *deb;
	} map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" },
		{ "i686", "i386" }, { "i386", "i386" },
		{ "ppc64le", "ppc64el" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" }, { "armv7hl", "armhf" },
	};
	size_t	 i;

	for (i = 0; i < nitems(map); i++)
		if (strcmp(arch, map[i].rpm) == 0)
			return map[i].deb;
	return arch;
}

/* A suite, component or architecture that may become part of a URL path. */
static int
deb_word_ok(const char *s, int slash)
{
	const char	*p;

	if (s == NULL || *s == '\0' || strlen(s) > 128 || strstr(s, "..") ||
	    *s == '/')
		return 0;
	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._+-", *p) == NULL &&
		    !(slash && *p == '/'))
			return 0;
	return 1;
}

static char **
split_commas(const char *s)
{
	char	**v = xcalloc(1, sizeof(char *)), *dup, *tok, *save = NULL;
	size_t	  n = 0;

	dup = xstrdup(s);
	for (tok = strtok_r(dup, ",", &save); tok != NULL && n < 32;
	    tok = strtok_r(NULL, ",", &save)) {
		v = xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = xstrdup(tok);
		v[n] = NULL;
	}
	free(dup);
	return v;
}

/*
 * deb+http://host/path?suite=S&components=a,b&arch=A&trusted=yes: strips
 * the prefix and the query from url (in place) and fills r's Debian
 * fields the query names. Returns 0, or -1 on an unknown parameter.
 */
static int
deb_url(char *url, struct ds_repo *r)
{
	char	*q, *tok, *save = NULL, *val;

	memmove(url, url + 4, strlen(url + 4) + 1);
	if ((q = strchr(url, '?')) == NULL)
		return 0;
	*q++ = '\0';
	for (tok = strtok_r(q, "&", &save); tok != NULL;
	    tok = strtok_r(NULL, "&", &save)) {
		if ((val = strchr(tok, '=')) == NULL)
			return -1;
		*val++ = '\0';
		if (strcmp(tok, "suite") == 0) {
			free(r->suite);
			r->suite = xstrdup(val);
		} else if (strcmp(tok, "components") == 0) {
			strv_free(r->components);
			r->components = split_commas(val);
		} else if (strcmp(tok, "arch") == 0) {
			free(r->debarch);
			r->debarch = xstrdup(val);
		} else if (strcmp(tok, "trusted") == 0)
			r->trusted = strcmp(val, "yes") == 0 ||
			    strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
		else
			return -1;
	}
	return 0;
}

static int
url_ok(const char *u)
{
	return strncmp(u, "http://", 7) == 0 ||
	    strncmp(u, "https://", 8) == 0 || strncmp(u, "file:///", 8) == 0;
}

static int
parse_repo(json_object *o, const char *arch, struct ds_repo *r,
    struct ds_err *err)
{
	json_object	*deb;
	char		*exp, *one;
	size_t		 i, ndeb = 0, nurls;
	int		 bad = 0;

	if (!json_object_is_type(o, json_type_object)) {
		ds_seterr(err, DS_INVALID, "Invalid repository config: "
		    "Repository config must be a dict");
		return -1;
	}
	r->sslverify = 1;
	r->id = get_str(o, "id", &bad);
	if (r->id == NULL || *r->id == '\0') {
		ds_seterr(err, DS_INVALID, "Missing required field 'id' in "
		    "'repos' item configuration");
		return -1;
	}
	r->name = get_str(o, "name", &bad);
	if (get(o, "baseurl") != NULL &&
	    !json_object_is_type(get(o, "baseurl"), json_type_array)) {
		ds_seterr(err, DS_INVALID, "Invalid repository config: "
		    "'baseurl' must be a list of URLs");
		return -1;
	}
	r->baseurls = strv_from_json(get(o, "baseurl"), MAX_URLS, &bad);
	r->mirrorlist = get_str(o, "mirrorlist", &bad);
	r->metalink = get_str(o, "metalink", &bad);
	r->gpgkeys = strv_from_json(get(o, "gpgkeys"), MAX_URLS, &bad);
	/* "gpgkey": one key (API v1) or a list of them (v2): either. */
	if (get(o, "gpgkey") != NULL &&
	    json_object_is_type(get(o, "gpgkey"), json_type_array)) {
		char **more = strv_from_json(get(o, "gpgkey"), MAX_URLS, &bad);
		size_t n = strv_len(r->gpgkeys), m = strv_len(more), k;

		r->gpgkeys = xrealloc(r->gpgkeys, (n + m + 1) *
		    sizeof(char *));
		for (k = 0; k <= m; k++)
			r->gpgkeys[n + k] = more[k];
		free(more);
	} else if ((one = get_str(o, "gpgkey", &bad)) != NULL) {
		size_t n = strv_len(r->gpgkeys);

		r->gpgkeys = xrealloc(r->gpgkeys, (n + 2) * sizeof(char *));
		r->gpgkeys[n] = one;
		r->gpgkeys[n + 1] = NULL;
	}
	r->gpgcheck = get_bool(o, "gpgcheck", 0, &bad);
	r->repo_gpgcheck = get_bool(o, "repo_gpgcheck", 0, &bad);
	r->sslverify = get_bool(o, "sslverify", 1, &bad);
	r->sslcacert = get_str(o, "sslcacert", &bad);
	r->sslclientkey = get_str(o, "sslclientkey", &bad);
	r->sslclientcert = get_str(o, "sslclientcert", &bad);
	exp = get_str(o, "metadata_expire", &bad);
	r->expire = request_parse_expire(exp);
	free(exp);
	if (bad || r->expire == -2) {
		ds_seterr(err, DS_INVALID, "Invalid repository config for "
		    "'%s': a field has the wrong type or value", r->id);
		return -1;
	}
	nurls = strv_len(r->baseurls);
	for (i = 0; i < nurls; i++) {
		if (strncmp(r->baseurls[i], "deb+", 4) == 0) {
			ndeb++;
			if (deb_url(r->baseurls[i], r) == -1) {
				ds_seterr(err, DS_INVALID, "repository '%s': "
				    "unknown parameter in a deb+ URL", r->id);
				return -1;
			}
		}
		if (!url_ok(r->baseurls[i])) {
			ds_seterr(err, DS_INVALID, "repository '%s': baseurl "
			    "'%s' is not an http, https or file URL", r->id,
			    r->baseurls[i]);
			return -1;
		}
	}
	if (ndeb != 0 && ndeb != nurls) {
		ds_seterr(err, DS_INVALID, "repository '%s' mixes deb+ and "
		    "other baseurls", r->id);
		return -1;
	}
	if ((deb = get(o, "debian")) != NULL) {
		if (!json_object_is_type(deb, json_type_object)) {
			ds_seterr(err, DS_INVALID, "repository '%s': 'debian' "
			    "must be an object", r->id);
			return -1;
		}
		if (get(deb, "suite") != NULL) {
			free(r->suite);
			r->suite = get_str(deb, "suite", &bad);
		}
		if (get(deb, "components") != NULL) {
			strv_free(r->components);
			r->components = strv_from_json(get(deb, "components"),
			    32, &bad);
		}
		if (get(deb, "arch") != NULL) {
			free(r->debarch);
			r->debarch = get_str(deb, "arch", &bad);
		}
		r->trusted = get_bool(deb, "trusted", r->trusted, &bad);
		ndeb++;
	}
	if (ndeb == 0) {
		r->type = DS_RPMMD;
		if (nurls == 0 && r->mirrorlist == NULL && r->metalink == NULL) {
			ds_seterr(err, DS_INVALID, "Invalid repository config: "
			    "missing either `baseurl`, `metalink`, or "
			    "`mirrorlist` in repo");
			return -1;
		}
		return 0;
	}
	r->type = DS_DEB;
	if (r->components == NULL || strv_len(r->components) == 0) {
		strv_free(r->components);
		r->components = split_commas("main");
	}
	if (r->debarch == NULL)
		r->debarch = xstrdup(request_debarch(arch));
	if (bad || nurls == 0 || !deb_word_ok(r->suite, 1) ||
	    !deb_word_ok(r->debarch, 0)) {
		ds_seterr(err, DS_INVALID, "Debian repository '%s' needs a "
		    "baseurl and a suite (letters, digits, . _ + - /) and a "
		    "valid arch", r->id);
		return -1;
	}
	for (i = 0; r->components[i] != NULL; i++)
		if (!deb_word_ok(r->components[i], 1)) {
			ds_seterr(err, DS_INVALID, "Debian repository '%s': bad "
			    "component '%s'", r->id, r->components[i]);
			return -1;
		}
	return 0;
}

static int
parse_trans(json_object *o, struct ds_trans *t, struct ds_err *err)
{
	int	 bad = 0;

	if (!json_object_is_type(o, json_type_object)) {
		ds_seterr(err, DS_INVALID, "Invalid depsolve transaction: "
		    "Depsolve transaction must be a dict");
		return -1;
	}
	t->specs = strv_from_json(get(o, "package-specs"), MAX_SPECS, &bad);
	t->excludes = strv_from_json(get(o, "exclude-specs"), MAX_SPECS,
	    &bad);
	if (get(o, "repo-ids") != NULL)
		t->repo_ids = strv_from_json(get(o, "repo-ids"), MAX_REPOS,
		    &bad);
	t->modules = strv_from_json(get(o, "module-enable-specs"), MAX_SPECS,
	    &bad);
	t->weak = get_bool(o, "install_weak_deps", 0, &bad);
	if (bad) {
		ds_seterr(err, DS_INVALID, "Invalid depsolve transaction: a "
		    "field has the wrong type");
		return -1;
	}
	return 0;
}

int
request_parse(json_object *req, struct ds_request *r, struct ds_err *err)
{
	json_object	*args, *v, *s;
	const char	*cmd;
	size_t		 i, j, n;
	int		 bad = 0;

	memset(r, 0, sizeof(*r));
	if (req == NULL || !json_object_is_type(req, json_type_object)) {
		ds_seterr(err, DS_INVALID, "the request is not a JSON object");
		return -1;
	}
	r->api = 1;
	if ((v = get(req, "api_version")) != NULL &&
	    (!json_object_is_type(v, json_type_int) ||
	    (json_object_get_int(v) != 1 && json_object_get_int(v) != 2))) {
		ds_seterr(err, DS_INVALID, "Invalid API version: %s",
		    json_object_to_json_string(v));
		return -1;
	}
	if (v != NULL)
		r->api = json_object_get_int(v);
	if ((cmd = json_get_str(req, "command")) == NULL) {
		ds_seterr(err, DS_INVALID, "Missing required field 'command'");
		return -1;
	}
	if (strcmp(cmd, "depsolve") == 0)
		r->cmd = DS_CMD_DEPSOLVE;
	else if (strcmp(cmd, "search") == 0)
		r->cmd = DS_CMD_SEARCH;
	else if (strcmp(cmd, "dump") == 0)
		r->cmd = DS_CMD_DUMP;
	else {
		ds_seterr(err, DS_INVALID, "Invalid command '%.64s': must be "
		    "one of depsolve, dump, search", cmd);
		return -1;
	}
	r->arch = get_str(req, "arch", &bad);
	r->releasever = get_str(req, "releasever", &bad);
	r->cachedir = get_str(req, "cachedir", &bad);
	r->proxy = get_str(req, "proxy", &bad);
	if (bad || r->arch == NULL || r->cachedir == NULL ||
	    r->releasever == NULL) {
		ds_seterr(err, DS_INVALID, "Missing required field '%s'",
		    r->arch == NULL ? "arch" : r->releasever == NULL ?
		    "releasever" : "cachedir");
		return -1;
	}
	if (!name_is_safe(r->arch) || *r->cachedir != '/') {
		ds_seterr(err, DS_INVALID, "'arch' must be a plain name and "
		    "'cachedir' an absolute path");
		return -1;
	}
	if ((args = get(req, "arguments")) == NULL ||
	    !json_object_is_type(args, json_type_object)) {
		ds_seterr(err, DS_INVALID, "Missing required field "
		    "'arguments'");
		return -1;
	}
	v = get(args, "repos");
	if (v != NULL && (!json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) > MAX_REPOS)) {
		ds_seterr(err, DS_INVALID, "Field 'repos' must be a list");
		return -1;
	}
	n = v != NULL ? json_object_array_length(v) : 0;
	r->repos = xcalloc(n + 1, sizeof(*r->repos));
	for (i = 0; i < n; i++) {
		r->nrepos++;
		if (parse_repo(json_object_array_get_idx(v, i), r->arch,
		    &r->repos[i], err) == -1)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(r->repos[j].id, r->repos[i].id) == 0) {
				ds_seterr(err, DS_INVALID, "repository id '%s' "
				    "appears twice", r->repos[i].id);
				return -1;
			}
	}
	if (get(args, "root_dir") != NULL) {
		ds_seterr(err, DS_INVALID, "'root_dir' is not supported");
		return -1;
	}
	v = get(args, "transactions");
	if (v != NULL && (!json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) > MAX_TRANS)) {
		ds_seterr(err, DS_INVALID, "Field 'transactions' must be a "
		    "list");
		return -1;
	}
	n = v != NULL ? json_object_array_length(v) : 0;
	r->trans = xcalloc(n + 1, sizeof(*r->trans));
	for (i = 0; i < n; i++) {
		r->ntrans++;
		if (parse_trans(json_object_array_get_idx(v, i),
		    &r->trans[i], err) == -1)
			return -1;
		for (j = 0; r->trans[i].repo_ids != NULL &&
		    r->trans[i].repo_ids[j] != NULL; j++) {
			size_t k;

			for (k = 0; k < r->nrepos; k++)
				if (strcmp(r->repos[k].id,
				    r->trans[i].repo_ids[j]) == 0)
					break;
			if (k == r->nrepos) {
				ds_seterr(err, DS_INVALID, "transaction %zu "
				    "names an unknown repository '%s'", i,
				    r->trans[i].repo_ids[j]);
				return -1;
			}
		}
	}
	if ((s = get(args, "search")) != NULL) {
		if (!json_object_is_type(s, json_type_object) ||
		    get(s, "packages") == NULL) {
			ds_seterr(err, DS_INVALID, "Field 'search' must be a "
			    "dict with 'packages'");
			return -1;
		}
		r->search = strv_from_json(get(s, "packages"), MAX_SPECS,
		    &bad);
		r->latest = get_bool(s, "latest", 0, &bad);
		if (bad) {
			ds_seterr(err, DS_INVALID, "Field 'packages' must be "
			    "a list");
			return -1;
		}
	}
	if (r->cmd == DS_CMD_DEPSOLVE && r->ntrans == 0) {
		ds_seterr(err, DS_INVALID, "depsolve needs 'transactions'");
		return -1;
	}
	if (r->cmd == DS_CMD_SEARCH && r->search == NULL) {
		ds_seterr(err, DS_INVALID, "search needs 'search'");
		return -1;
	}
	return 0;
}

void
request_free(struct ds_request *r)
{
	size_t	 i;

	for (i = 0; i < r->nrepos; i++) {
		struct ds_repo *p = &r->repos[i];

		free(p->id);
		free(p->name);
		strv_free(p->baseurls);
		free(p->mirrorlist);
		free(p->metalink);
		strv_free(p->gpgkeys);
		free(p->sslcacert);
		free(p->sslclientkey);
		free(p->sslclientcert);
		free(p->suite);
		strv_free(p->components);
		free(p->debarch);
	}
	free(r->repos);
	for (i = 0; i < r->ntrans; i++) {
		strv_free(r->trans[i].specs);
		strv_free(r->trans[i].excludes);
		strv_free(r->trans[i].repo_ids);
		strv_free(r->trans[i].modules);
	}
	free(r->trans);
	free(r->arch);
	free(r->releasever);
	free(r->cachedir);
	free(r->proxy);
	strv_free(r->search);
	memset(r, 0, sizeof(*r));
}
