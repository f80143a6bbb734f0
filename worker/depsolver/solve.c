/*
 * Depsolving with libsolv. See solve.h.
 *
 * A transaction's specs are matched (names, globs, provides, files; rpm
 * also name.arch and NEVRA; "@group" against comps) among the packages not
 * excluded and, when the transaction names repo-ids, only in those
 * repositories; dependencies may come from any repository, as with dnf.
 * The previous transaction's packages are installed too, so results
 * accumulate.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <solv/bitmap.h>
#include <solv/chksum.h>
#include <solv/evr.h>
#include <solv/knownid.h>
#include <solv/policy.h>
#include <solv/repo.h>
#include <solv/selection.h>
#include <solv/solver.h>
#include <solv/transaction.h>

#include "depsolver/solve.h"
#include "util.h"

#define MAX_MARKING_NAMES	20

static int
is_deb(Pool *pool)
{
	return pool->disttype == DISTTYPE_DEB;
}

/*
 * Splits an evr: rpm "E:V-R" (release after the last '-'); Debian
 * "E:V" with release "" (the Debian revision stays in the version).
 */
static void
split_evr(Pool *pool, const char *evr, int *epoch, char **ver, char **rel)
{
	const char	*p = evr, *dash;

	*epoch = 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == ':' && p != evr) {
		*epoch = atoi(evr);
		evr = p + 1;
	}
	if (is_deb(pool) || (dash = strrchr(evr, '-')) == NULL) {
		*ver = xstrdup(evr);
		*rel = xstrdup("");
		return;
	}
	*ver = xstrndup(evr, (size_t)(dash - evr));
	*rel = xstrdup(dash + 1);
}

static const char *
repo_id_of(Solvable *s)
{
	return ((struct ds_repo *)s->repo->appdata)->id;
}

static json_object *
jstr(const char *s)
{
	return json_object_new_string(s != NULL ? s : "");
}

static void
add_nevra(Pool *pool, Solvable *s, json_object *o)
{
	char	*ver, *rel;
	int	 epoch;

	split_evr(pool, pool_id2str(pool, s->evr), &epoch, &ver, &rel);
	json_object_object_add(o, "name", jstr(pool_id2str(pool, s->name)));
	json_object_object_add(o, "epoch", json_object_new_int(epoch));
	json_object_object_add(o, "version", jstr(ver));
	json_object_object_add(o, "release", jstr(rel));
	json_object_object_add(o, "arch", jstr(pool_id2str(pool, s->arch)));
	json_object_object_add(o, "repo_id", jstr(repo_id_of(s)));
	free(ver);
	free(rel);
}

/*
 * A package of the depsolve answer in API api's words (v1: path,
 * remote_location, "alg:hex"; v2: location, remote_locations[],
 * {algorithm, value}); NULL when it has no location.
 */
static json_object *
package_json(Pool *pool, Id p, int api)
{
	Solvable	*s = pool_id2solvable(pool, p);
	struct ds_repo	*r = s->repo->appdata;
	const char	*loc, *sum;
	unsigned int	 medianr;
	Id		 type = 0;
	json_object	*o;
	char		*url;
	size_t		 n;

	loc = solvable_get_location(s, &medianr);
	if (loc == NULL || *loc == '\0')
		return NULL;
	o = json_object_new_object();
	add_nevra(pool, s, o);
	n = strlen(r->baseurl);
	while (n > 0 && r->baseurl[n - 1] == '/')
		n--;
	url = xasprintf("%.*s/%s", (int)n, r->baseurl, loc);
	sum = solvable_lookup_checksum(s, SOLVABLE_CHECKSUM, &type);
	if (api >= 2) {
		json_object *l = json_object_new_array(), *c = NULL;

		json_object_object_add(o, "location", jstr(loc));
		json_object_array_add(l, jstr(url));
		json_object_object_add(o, "remote_locations", l);
		free(url);
		if (sum != NULL) {
			c = json_object_new_object();
			json_object_object_add(c, "algorithm",
			    jstr(solv_chksum_type2str(type)));
			json_object_object_add(c, "value", jstr(sum));
		}
		json_object_object_add(o, "checksum", c);
		return o;
	}
	json_object_object_add(o, "path", jstr(loc));
	json_object_object_add(o, "remote_location", jstr(url));
	free(url);
	if (sum != NULL) {
		char *c = xasprintf("%s:%s", solv_chksum_type2str(type), sum);

		json_object_object_add(o, "checksum", jstr(c));
		free(c);
	} else
		json_object_object_add(o, "checksum", jstr(""));
	return o;
}

static json_object *
repo_json(const struct ds_repo *r, int api)
{
	json_object	*o = json_object_new_object(), *a;
	size_t		 i;

	json_object_object_add(o, "id", jstr(r->id));
	json_object_object_add(o, "name", jstr(r->name ? r->name : r->id));
	a = json_object_new_array();
	for (i = 0; r->baseurls[i] != NULL; i++)
		json_object_array_add(a, jstr(r->baseurls[i]));
	json_object_object_add(o, "baseurl", a);
	json_object_object_add(o, "metalink", r->metalink ?
	    jstr(r->metalink) : NULL);
	json_object_object_add(o, "mirrorlist", r->mirrorlist ?
	    jstr(r->mirrorlist) : NULL);
	json_object_object_add(o, "gpgcheck",
	    json_object_new_boolean(r->gpgcheck));
	json_object_object_add(o, "repo_gpgcheck", json_object_new_boolean(
	    r->type == DS_DEB ? !r->trusted : r->repo_gpgcheck));
	a = json_object_new_array();
	for (i = 0; r->gpgkeys[i] != NULL; i++)
		json_object_array_add(a, jstr(r->gpgkeys[i]));
	json_object_object_add(o, api >= 2 ? "gpgkey" : "gpgkeys", a);
	json_object_object_add(o, "sslverify",
	    json_object_new_boolean(r->sslverify));
	json_object_object_add(o, "sslcacert", r->sslcacert ?
	    jstr(r->sslcacert) : NULL);
	json_object_object_add(o, "sslclientkey", r->sslclientkey ?
	    jstr(r->sslclientkey) : NULL);
	json_object_object_add(o, "sslclientcert", r->sslclientcert ?
	    jstr(r->sslclientcert) : NULL);
	return o;
}

static int
in_strv(char **v, const char *s)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static int
sel_flags(Pool *pool)
{
	int	 f = SELECTION_NAME | SELECTION_PROVIDES | SELECTION_GLOB |
	    SELECTION_REL | SELECTION_FILELIST;

	if (!is_deb(pool))
		f |= SELECTION_DOTARCH | SELECTION_CANON;
	return f;
}

/* Comps groups: "@id" or "@Display Name" (repo_add_comps' "group:id"). */
static void
group_candidates(Pool *pool, const char *spec, Queue *q)
{
	Id		 p;
	Solvable	*s;

	FOR_POOL_SOLVABLES(p) {
		const char *name, *summary;

		s = pool_id2solvable(pool, p);
		if (s->repo == NULL || s->repo == pool->installed)
			continue;
		name = pool_id2str(pool, s->name);
		if (strncmp(name, "group:", 6) != 0)
			continue;
		summary = solvable_lookup_str(s, SOLVABLE_SUMMARY);
		if (strcmp(name + 6, spec) == 0 ||
		    (summary != NULL && strcmp(summary, spec) == 0))
			queue_push(q, p);
	}
}

/*
 * The candidates of one spec: every match, then the ones not excluded and
 * in the transaction's repositories. Returns 0 none matched at all, 1
 * matched but everything was filtered out, 2 candidates in out.
 */
static int
candidates(Pool *pool, const struct ds_trans *t, const char *spec,
    const Map *excluded, Queue *out)
{
	Queue	 sel, all;
	int	 i, any;

	queue_init(&sel);
	queue_init(&all);
	queue_empty(out);
	if (*spec == '@')
		group_candidates(pool, spec + 1, &all);
	else {
		selection_make(pool, &sel, spec, sel_flags(pool));
		selection_solvables(pool, &sel, &all);
	}
	any = all.count > 0;
	for (i = 0; i < all.count; i++) {
		Solvable *s = pool_id2solvable(pool, all.elements[i]);

		if (MAPTST(excluded, all.elements[i]))
			continue;
		if (t->repo_ids != NULL && !in_strv(t->repo_ids,
		    repo_id_of(s)))
			continue;
		queue_push(out, all.elements[i]);
	}
	queue_free(&sel);
	queue_free(&all);
	return out->count > 0 ? 2 : any;
}

/* The packages an exclude spec names (names and globs, as dnf). */
static void
mark_excluded(Pool *pool, char **excludes, Map *m)
{
	Queue	 sel, q;
	size_t	 i;
	int	 j;

	queue_init(&sel);
	queue_init(&q);
	for (i = 0; excludes != NULL && excludes[i] != NULL; i++) {
		selection_make(pool, &sel, excludes[i], SELECTION_NAME |
		    SELECTION_GLOB | (is_deb(pool) ? 0 : SELECTION_DOTARCH |
		    SELECTION_CANON));
		selection_solvables(pool, &sel, &q);
		for (j = 0; j < q.count; j++)
			MAPSET(m, q.elements[j]);
	}
	queue_free(&sel);
	queue_free(&q);
}

/*
 * apt prefers a package of the dependency's own name over others that
 * provide it (libsystemd0 over libelogind0, which provides and replaces
 * it); libsolv has no such rule, so on Debian the providers of a name that
 * a real package has are disfavored. Only a preference: asked for by name,
 * or needed, they still install.
 */
static void
debian_disfavor(Pool *pool, Queue *job)
{
	Queue		 q;
	Id		 p, pp, ppp, prov, *pr;
	Solvable	*s;

	if (!is_deb(pool))
		return;
	queue_init(&q);
	FOR_POOL_SOLVABLES(p) {
		s = pool_id2solvable(pool, p);
		if (s->repo == NULL || !s->provides)
			continue;
		for (pr = s->repo->idarraydata + s->provides; (prov = *pr++);) {
			Id name = prov;
			int real = 0;

			while (ISRELDEP(name))
				name = GETRELDEP(pool, name)->name;
			if (name == s->name)
				continue;
			FOR_PROVIDES(pp, ppp, name) {
				if (pool_id2solvable(pool, pp)->name == name) {
					real = 1;
					break;
				}
			}
			if (real) {
				queue_push(&q, p);
				break;
			}
		}
	}
	if (q.count > 0)
		queue_push2(job, SOLVER_DISFAVOR | SOLVER_SOLVABLE_ONE_OF,
		    pool_queuetowhatprovides(pool, &q));
	queue_free(&q);
}

/*
 * The best of the providers of dep that may install, as apt takes them: a
 * package of the dependency's own name before one that only provides it,
 * then the highest version, then (for determinism) the lowest name. 0 when
 * none may install.
 */
static Id
apt_provider(Pool *pool, Id dep, const Map *considered)
{
	Id		 p, pp, best = 0, name = dep;
	Solvable	*s, *b;
	int		 real, breal = 0, c;

	while (ISRELDEP(name))
		name = GETRELDEP(pool, name)->name;
	FOR_PROVIDES(p, pp, dep) {
		s = pool_id2solvable(pool, p);
		if (!MAPTST(considered, p) || !pool_installable(pool, s))
			continue;
		real = s->name == name;
		if (best != 0) {
			b = pool_id2solvable(pool, best);
			if (real != breal) {
				if (!real)
					continue;
			} else if (s->name != b->name) {
				c = strcmp(pool_id2str(pool, s->name),
				    pool_id2str(pool, b->name));
				if (c >= 0)
					continue;
			} else if (pool_evrcmp(pool, s->evr, b->evr,
			    EVRCMP_COMPARE) <= 0)
				continue;
		}
		best = p;
		breal = real;
	}
	return best;
}

/* The alternatives of an "a | b | c" dependency, in their order. */
static void
alternatives(Pool *pool, Id dep, Queue *out)
{
	Reldep	*rd;

	if (ISRELDEP(dep)) {
		rd = GETRELDEP(pool, dep);
		if (rd->flags == REL_OR) {
			alternatives(pool, rd->name, out);
			alternatives(pool, rd->evr, out);
			return;
		}
	}
	queue_push(out, dep);
}

/* Whether a package of chosen satisfies dep (any of its alternatives). */
static int
satisfied(Pool *pool, Id dep, const Map *chosen)
{
	Id	 p, pp;

	FOR_PROVIDES(p, pp, dep)
		if (MAPTST(chosen, p))
			return 1;
	return 0;
}

/*
 * apt's choices among alternatives, which libsolv does not make: for
 * "sysv-rc | file-rc | openrc" apt takes the first alternative that can
 * install, libsolv whichever its policy ranks first. Walks the dependencies
 * from roots (and prev, already installed) as apt marks them: a dependency
 * a chosen package satisfies is left alone, else the first alternative
 * with an installable provider is chosen and walked in turn (Recommends
 * too when weak). The chosen packages are favored: libsolv still decides,
 * and still may take another when a choice cannot install.
 */
static void
debian_apt_choice(Pool *pool, const Queue *roots, const Queue *prev,
    const Map *considered, int weak, Queue *job)
{
	Queue		 todo, alts, fav;
	Map		 chosen;
	Id		 dep, *dp, pick;
	Solvable	*s;
	int		 i, j, k;

	if (!is_deb(pool))
		return;
	queue_init(&todo);
	queue_init(&alts);
	queue_init(&fav);
	map_init(&chosen, pool->nsolvables);
	for (i = 0; i < prev->count; i++)
		MAPSET(&chosen, prev->elements[i]);
	for (i = 0; i < roots->count; i++)
		if (!MAPTST(&chosen, roots->elements[i])) {
			MAPSET(&chosen, roots->elements[i]);
			queue_push(&todo, roots->elements[i]);
		}
	for (i = 0; i < todo.count; i++) {
		s = pool_id2solvable(pool, todo.elements[i]);
		for (k = 0; k < 2; k++) {
			Offset o = k == 0 ? s->requires : s->recommends;

			if (!o || (k == 1 && !weak))
				continue;
			for (dp = s->repo->idarraydata + o; (dep = *dp++);) {
				if (dep == SOLVABLE_PREREQMARKER ||
				    satisfied(pool, dep, &chosen))
					continue;
				queue_empty(&alts);
				alternatives(pool, dep, &alts);
				for (j = 0, pick = 0; j < alts.count && !pick;
				    j++)
					pick = apt_provider(pool,
					    alts.elements[j], considered);
				if (!pick)
					continue;	/* libsolv will say */
				MAPSET(&chosen, pick);
				queue_push(&todo, pick);
				queue_push(&fav, pick);
			}
		}
	}
	if (fav.count > 0)
		queue_push2(job, SOLVER_FAVOR | SOLVER_SOLVABLE_ONE_OF,
		    pool_queuetowhatprovides(pool, &fav));
	map_free(&chosen);
	queue_free(&todo);
	queue_free(&alts);
	queue_free(&fav);
}

/* The best candidate of each spec's job: the roots apt marks first. */
static void
spec_roots(Pool *pool, const Queue *job, Queue *roots)
{
	Id		 p, *pp, best;
	int		 i;

	for (i = 0; i + 1 < job->count; i += 2) {
		if (job->elements[i] != (SOLVER_INSTALL | SOLVER_SOLVABLE_ONE_OF))
			continue;
		best = 0;
		for (pp = pool->whatprovidesdata + job->elements[i + 1];
		    (p = *pp++) != 0;) {
			Solvable *s = pool_id2solvable(pool, p), *b;

			if (best != 0) {
				b = pool_id2solvable(pool, best);
				if (s->name == b->name ? pool_evrcmp(pool, s->evr,
				    b->evr, EVRCMP_COMPARE) <= 0 :
				    strcmp(pool_id2str(pool, s->name),
				    pool_id2str(pool, b->name)) >= 0)
					continue;
			}
			best = p;
		}
		if (best != 0)
			queue_push(roots, best);
	}
}

static void
join_specs(const struct ds_request *req, struct buf *b)
{
	size_t	 i, j;

	for (i = 0; i < req->ntrans; i++)
		for (j = 0; req->trans[i].specs[j] != NULL; j++)
			buf_printf(b, "%s%s", b->len ? ", " : "",
			    req->trans[i].specs[j]);
}

/*
 * One transaction on top of prev (the previous result, replaced by this
 * one's). 0, or -1 with err set.
 */
static int
solve_one(Pool *pool, const struct ds_request *req, const struct ds_trans *t,
    Queue *prev, struct ds_err *err)
{
	Solver		*solv = NULL;
	Transaction	*trans = NULL;
	Queue		 job, cand, res, roots;
	Map		 excluded, considered;
	struct buf	 missing, filtered, probs;
	size_t		 i;
	int		 j, nmiss = 0, nprob, rv = -1;

	queue_init(&job);
	queue_init(&cand);
	queue_init(&res);
	queue_init(&roots);
	buf_init(&missing);
	buf_init(&filtered);
	buf_init(&probs);
	map_init(&excluded, pool->nsolvables);
	map_init(&considered, pool->nsolvables);
	if (strv_len(t->modules) > 0) {
		ds_seterr(err, DS_MARKING, "Error occurred when marking "
		    "packages for installation: modules are not supported: "
		    "%s", t->modules[0]);
		goto cleanup;
	}
	mark_excluded(pool, t->excludes, &excluded);
	for (i = 0; t->specs[i] != NULL; i++) {
		int rc = candidates(pool, t, t->specs[i], &excluded, &cand);

		if (rc != 2) {
			if (nmiss++ < MAX_MARKING_NAMES)
				buf_printf(rc == 0 ? &missing : &filtered,
				    "%s%s", (rc == 0 ? missing.len :
				    filtered.len) ? ", " : "", t->specs[i]);
			continue;
		}
		queue_push2(&job, SOLVER_INSTALL | SOLVER_SOLVABLE_ONE_OF,
		    pool_queuetowhatprovides(pool, &cand));
	}
	if (nmiss > 0) {
		ds_seterr(err, DS_MARKING, "Error occurred when marking "
		    "packages for installation: Problems in request:\n%s%s%s"
		    "%s%s", missing.len ? "missing packages: " : "",
		    missing.len ? missing.data : "",
		    missing.len && filtered.len ? "\n" : "",
		    filtered.len ? "all matches were filtered out by exclude "
		    "filtering or repo-ids for: " : "",
		    filtered.len ? filtered.data : "");
		goto cleanup;
	}
	for (j = 0; j < prev->count; j++)
		queue_push2(&job, SOLVER_INSTALL | SOLVER_SOLVABLE,
		    prev->elements[j]);
	debian_disfavor(pool, &job);
	/* Excluded packages may not come in as dependencies either. */
	map_setall(&considered);
	for (j = 0; j < pool->nsolvables; j++)
		if (MAPTST(&excluded, j))
			MAPCLR(&considered, j);
	for (j = 0; j < prev->count; j++)
		MAPSET(&considered, prev->elements[j]);
	spec_roots(pool, &job, &roots);
	debian_apt_choice(pool, &roots, prev, &considered, t->weak, &job);
	pool->considered = &considered;
	solv = solver_create(pool);
	solver_set_flag(solv, SOLVER_FLAG_IGNORE_RECOMMENDED, !t->weak);
	solver_set_flag(solv, SOLVER_FLAG_BEST_OBEY_POLICY, 1);
	nprob = solver_solve(solv, &job);
	if (nprob > 0) {
		struct buf specs;

		for (j = 1; j <= nprob && j <= 10; j++)
			buf_printf(&probs, "%s%s", j > 1 ? "; " : "",
			    solver_problem2str(solv, j));
		buf_init(&specs);
		join_specs(req, &specs);
		/* The problems must fit the reason, the spec list need not. */
		ds_seterr(err, DS_DEPSOLVE, "There was a problem depsolving "
		    "%.*s%s: %s", specs.len > 800 ? 800 : (int)specs.len,
		    specs.data ? specs.data : "", specs.len > 800 ? "..." : "",
		    probs.data);
		buf_free(&specs);
		goto cleanup;
	}
	trans = solver_create_transaction(solv);
	transaction_installedresult(trans, &res);
	queue_empty(prev);
	for (j = 0; j < res.count; j++)
		queue_push(prev, res.elements[j]);
	rv = 0;
cleanup:
	pool->considered = NULL;
	if (trans != NULL)
		transaction_free(trans);
	if (solv != NULL)
		solver_free(solv);
	map_free(&excluded);
	map_free(&considered);
	queue_free(&job);
	queue_free(&cand);
	queue_free(&res);
	queue_free(&roots);
	buf_free(&missing);
	buf_free(&filtered);
	buf_free(&probs);
	return rv;
}

static int
cmp_solvable(const void *a, const void *b, void *arg)
{
	Pool		*sort_pool = arg;
	Solvable	*x = pool_id2solvable(sort_pool, *(const Id *)a);
	Solvable	*y = pool_id2solvable(sort_pool, *(const Id *)b);
	int		 c;

	c = strcmp(pool_id2str(sort_pool, x->name),
	    pool_id2str(sort_pool, y->name));
	if (c == 0)
		c = pool_evrcmp(sort_pool, x->evr, y->evr, EVRCMP_COMPARE);
	if (c == 0)
		c = strcmp(pool_id2str(sort_pool, x->arch),
		    pool_id2str(sort_pool, y->arch));
	if (c == 0)
		c = strcmp(repo_id_of(x), repo_id_of(y));
	return c;
}

static void
sort_ids(Pool *pool, Queue *q)
{
	qsort_r(q->elements, (size_t)q->count, sizeof(Id), cmp_solvable, pool);
}

/*
 * The packages of q in the answer's words, sorted, each repository of
 * them added to repos.
 */
static json_object *
package_list(Pool *pool, Queue *q, int api, json_object *repos)
{
	json_object	*pkgs = json_object_new_array();
	int		 j;

	sort_ids(pool, q);
	for (j = 0; j < q->count; j++) {
		json_object *o = package_json(pool, q->elements[j], api);
		Solvable *s = pool_id2solvable(pool, q->elements[j]);

		if (o == NULL)
			continue;	/* a comps group */
		json_object_array_add(pkgs, o);
		if (!json_object_object_get_ex(repos, repo_id_of(s), NULL))
			json_object_object_add(repos, repo_id_of(s),
			    repo_json(s->repo->appdata, api));
	}
	return pkgs;
}

/*
 * API v1 answers the chain's final set as "packages"; v2 one disjoint set
 * per transaction (what it added to the previous ones) as "transactions".
 */
json_object *
solve_depsolve(Pool *pool, const struct ds_request *req, struct ds_err *err)
{
	json_object	*ans = NULL, *trans = NULL, *repos;
	Queue		 prev, added;
	Map		 before;
	size_t		 i;
	int		 j;

	queue_init(&prev);
	queue_init(&added);
	map_init(&before, pool->nsolvables);
	repos = json_object_new_object();
	if (req->api >= 2)
		trans = json_object_new_array();
	for (i = 0; i < req->ntrans; i++) {
		map_empty(&before);
		for (j = 0; j < prev.count; j++)
			MAPSET(&before, prev.elements[j]);
		if (solve_one(pool, req, &req->trans[i], &prev, err) == -1) {
			json_object_put(trans);
			json_object_put(repos);
			goto cleanup;
		}
		if (trans == NULL)
			continue;
		queue_empty(&added);
		for (j = 0; j < prev.count; j++)
			if (!MAPTST(&before, prev.elements[j]))
				queue_push(&added, prev.elements[j]);
		json_object_array_add(trans, package_list(pool, &added,
		    req->api, repos));
	}
	ans = json_object_new_object();
	json_object_object_add(ans, "solver", jstr("ib-depsolve"));
	if (trans != NULL)
		json_object_object_add(ans, "transactions", trans);
	else
		json_object_object_add(ans, "packages", package_list(pool,
		    &prev, req->api, repos));
	json_object_object_add(ans, "repos", repos);
	json_object_object_add(ans, "modules", json_object_new_object());
cleanup:
	map_free(&before);
	queue_free(&added);
	queue_free(&prev);
	return ans;
}

static json_object *
info_json(Pool *pool, Id p)
{
	Solvable	*s = pool_id2solvable(pool, p);
	json_object	*o = json_object_new_object();
	unsigned long long bt;
	time_t		 t;
	struct tm	 tm;
	char		 when[32];

	add_nevra(pool, s, o);
	json_object_object_add(o, "summary",
	    jstr(solvable_lookup_str(s, SOLVABLE_SUMMARY)));
	json_object_object_add(o, "description",
	    jstr(solvable_lookup_str(s, SOLVABLE_DESCRIPTION)));
	json_object_object_add(o, "url",
	    jstr(solvable_lookup_str(s, SOLVABLE_URL)));
	json_object_object_add(o, "license",
	    jstr(solvable_lookup_str(s, SOLVABLE_LICENSE)));
	bt = solvable_lookup_num(s, SOLVABLE_BUILDTIME, 0);
	t = (time_t)bt;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "buildtime", jstr(when));
	return o;
}

/* dnf's rule: "*x*" is a substring, another '*' a glob, else exact. */
static int
name_matches(const char *pat, const char *name)
{
	size_t	 n = strlen(pat);
	char	*mid;
	int	 m;

	if (strchr(pat, '*') == NULL)
		return strcmp(pat, name) == 0;
	if (n >= 2 && pat[0] == '*' && pat[n - 1] == '*' &&
	    strchr(pat + 1, '*') == pat + n - 1) {
		mid = xstrndup(pat + 1, n - 2);
		m = strstr(name, mid) != NULL;
		free(mid);
		return m;
	}
	return fnmatch(pat, name, 0) == 0;
}

static int
cmp_latest(const void *a, const void *b, void *arg)
{
	Pool		*sort_pool = arg;
	Solvable	*x = pool_id2solvable(sort_pool, *(const Id *)a);
	Solvable	*y = pool_id2solvable(sort_pool, *(const Id *)b);
	int		 c;

	c = strcmp(pool_id2str(sort_pool, x->name),
	    pool_id2str(sort_pool, y->name));
	if (c == 0)
		c = strcmp(pool_id2str(sort_pool, x->arch),
		    pool_id2str(sort_pool, y->arch));
	if (c == 0)
		c = pool_evrcmp(sort_pool, x->evr, y->evr, EVRCMP_COMPARE);
	return c;
}

/* Keeps the highest version of each name and arch, as dnf's latest(). */
static void
keep_latest(Pool *pool, Queue *q)
{
	int	 i, k = 0;

	qsort_r(q->elements, (size_t)q->count, sizeof(Id), cmp_latest, pool);
	for (i = 0; i < q->count; i++) {
		Solvable *s = pool_id2solvable(pool, q->elements[i]);

		if (i + 1 < q->count) {
			Solvable *n = pool_id2solvable(pool,
			    q->elements[i + 1]);

			if (n->name == s->name && n->arch == s->arch)
				continue;
		}
		q->elements[k++] = q->elements[i];
	}
	q->count = k;
}

static json_object *
listing(Pool *pool, const struct ds_request *req, char **pats, int latest)
{
	json_object	*a = json_object_new_array();
	Queue		 q;
	Id		 p;
	int		 i;
	size_t		 k;

	(void)req;
	queue_init(&q);
	FOR_POOL_SOLVABLES(p) {
		Solvable *s = pool_id2solvable(pool, p);
		const char *name;

		if (s->repo == NULL || s->repo->appdata == NULL)
			continue;
		name = pool_id2str(pool, s->name);
		if (strncmp(name, "group:", 6) == 0)
			continue;
		if (pats != NULL) {
			for (k = 0; pats[k] != NULL; k++)
				if (name_matches(pats[k], name))
					break;
			if (pats[k] == NULL)
				continue;
		}
		queue_push(&q, p);
	}
	if (latest)
		keep_latest(pool, &q);
	sort_ids(pool, &q);
	for (i = 0; i < q.count; i++)
		json_object_array_add(a, info_json(pool, q.elements[i]));
	queue_free(&q);
	return a;
}

json_object *
solve_search(Pool *pool, const struct ds_request *req, struct ds_err *err)
{
	(void)err;
	return listing(pool, req, req->search, req->latest);
}

json_object *
solve_dump(Pool *pool, const struct ds_request *req, struct ds_err *err)
{
	(void)err;
	return listing(pool, req, NULL, 0);
}
