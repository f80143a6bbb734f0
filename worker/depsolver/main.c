/*
 * ib-depsolve: reads one osbuild-depsolve-dnf request on stdin, answers
 * on stdout; on failure exits 1 with {"kind","reason"} on stdout and the
 * reason on stderr. IB_DEPSOLVE_DEBUG=1 logs each step to stderr.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/repo.h>

#include "depsolver/ds.h"
#include "depsolver/fetch.h"
#include "depsolver/repos.h"
#include "depsolver/solve.h"
#include "log.h"
#include "util.h"

#define REQUEST_MAX	(64u << 20)

static int
read_stdin(struct buf *b)
{
	char	 chunk[65536];
	ssize_t	 n;

	for (;;) {
		n = read(0, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		if (b->len + (size_t)n > REQUEST_MAX)
			return -1;
		buf_add(b, chunk, (size_t)n);
	}
}

/* One pool kind per request: rpm or Debian, never both. */
static int
pool_setup(Pool *pool, const struct ds_request *req, struct ds_err *err)
{
	size_t	 i, ndeb = 0;

	for (i = 0; i < req->nrepos; i++)
		ndeb += req->repos[i].type == DS_DEB;
	if (ndeb != 0 && ndeb != req->nrepos) {
		ds_seterr(err, DS_INVALID, "a request cannot mix Debian and "
		    "rpm-md repositories");
		return -1;
	}
	if (ndeb > 0) {
		if (pool_setdisttype(pool, DISTTYPE_DEB) == -1) {
			ds_seterr(err, DS_INVALID, "this libsolv cannot "
			    "handle Debian packages");
			return -1;
		}
		pool_setarch(pool, req->repos[0].debarch);
	} else {
		if (pool_setdisttype(pool, DISTTYPE_RPM) == -1) {
			ds_seterr(err, DS_INVALID, "this libsolv cannot "
			    "handle rpm packages");
			return -1;
		}
		pool_setarch(pool, req->arch);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ds_request	 req;
	struct ds_err		 err;
	struct fetcher		*f = NULL;
	struct buf		 in;
	json_object		*jreq = NULL, *ans = NULL;
	Pool			*pool = NULL;
	int64_t			 t0 = now_ms(), t1;
	const char		*dbg = getenv("IB_DEPSOLVE_DEBUG");
	int			 rv = 1;

	/* No core file: it would hold what the job handed us (secrets
	 * included, STYLE.md). Tools it runs get theirs back at exec. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	if (argc > 1) {
		fprintf(stderr, "usage: %s < request.json\n", argv[0]);
		return 2;
	}
	log_init(dbg != NULL && *dbg == '1', LOG_TEXT);
	memset(&err, 0, sizeof(err));
	memset(&req, 0, sizeof(req));
	buf_init(&in);
	if (read_stdin(&in) == -1) {
		ds_seterr(&err, DS_INVALID, "cannot read the request (at most "
		    "%u bytes) from stdin", REQUEST_MAX);
		goto out;
	}
	jreq = json_tokener_parse(in.data ? in.data : "");
	if (jreq == NULL) {
		ds_seterr(&err, DS_INVALID, "the request is not valid JSON");
		goto out;
	}
	if (request_parse(jreq, &req, &err) == -1)
		goto out;
	if (req.nrepos == 0) {
		ds_seterr(&err, DS_NOREPOS, "There was a problem finding "
		    "repositories: There are no enabled repositories");
		goto out;
	}
	pool = pool_create();
	if (pool_setup(pool, &req, &err) == -1)
		goto out;
	f = fetch_new(req.proxy);
	if (repos_load(pool, &req, f, &err) == -1)
		goto out;
	pool_addfileprovides(pool);
	pool_createwhatprovides(pool);
	t1 = now_ms();
	log_debug("metadata loaded in %lld ms, %d solvables",
	    (long long)(t1 - t0), pool->nsolvables);
	switch (req.cmd) {
	case DS_CMD_DEPSOLVE:
		ans = solve_depsolve(pool, &req, &err);
		break;
	case DS_CMD_SEARCH:
		ans = solve_search(pool, &req, &err);
		break;
	case DS_CMD_DUMP:
		ans = solve_dump(pool, &req, &err);
		break;
	}
	log_debug("answered in %lld ms", (long long)(now_ms() - t1));
	if (ans != NULL) {
		const char *s = json_object_to_json_string_ext(ans,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

		if (fputs(s, stdout) == EOF || fputs("\n", stdout) == EOF ||
		    fflush(stdout) == EOF) {
			fprintf(stderr, "ib-depsolve: writing the answer: %s\n",
			    strerror(errno));
			goto out;
		}
		rv = 0;
	}
out:
	if (rv != 0) {
		json_object *e = json_object_new_object();

		if (err.kind == NULL)
			ds_seterr(&err, "InternalError", "no answer");
		json_object_object_add(e, "kind",
		    json_object_new_string(err.kind));
		json_object_object_add(e, "reason",
		    json_object_new_string(err.reason));
		fprintf(stderr, "%s: %s\n", err.kind, err.reason);
		puts(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(e);
	}
	json_object_put(ans);
	json_object_put(jreq);
	request_free(&req);
	fetch_free(f);
	if (pool != NULL)
		pool_free(pool);
	buf_free(&in);
	return rv;
}
