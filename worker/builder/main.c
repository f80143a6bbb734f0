/*
 * ib-build: builds an osbuild manifest (format version "2") of the stages
 * documented in README.md, offline but for its curl sources, honouring
 * osbuild's command line, monitor stream and result shapes, so the worker
 * runs it where it would run osbuild.
 */
#include <sys/prctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/build.h"
#include "log.h"

/* The text of a buf that may never have been written to. */
#define OUT(b)	((b).data != NULL ? (b).data : "")

struct opts {
	const char	*store;
	const char	*outdir;
	const char	*manifest;
	int64_t		 cache_max;		/* -1: unlimited */
	char		**exports;
	size_t		 nexports;
	char		**checkpoints;
	size_t		 ncheckpoints;
	int		 json;
	int		 monitor_fd;
};

struct stats {
	int64_t		 downloaded;
	int		 stages_run;
	int		 pipelines_cached;
};

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: ib-build [--store DIR] [--output-directory DIR] "
	    "[--cache-max-size=BYTES]\n"
	    "    [--export NAME]... [--checkpoint NAME]... [--json]\n"
	    "    [--monitor=JSONSeqMonitor --monitor-fd=N] MANIFEST|-\n"
	    "       ib-build --version\n");
	exit(2);
}

static void
add(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = s;
}

static char *
read_all(int fd, size_t max, size_t *lenp)
{
	struct buf	 b;
	char		 chunk[65536];
	ssize_t		 n;

	buf_init(&b);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_add(&b, chunk, (size_t)n);
		if (b.len > max) {
			buf_free(&b);
			errno = EFBIG;
			return NULL;
		}
	}
	if (n < 0) {
		buf_free(&b);
		return NULL;
	}
	*lenp = b.len;
	return buf_release(&b);
}

static void
print_json(json_object *o, int pretty)
{
	printf("%s\n", json_object_to_json_string_ext(o, (pretty ?
	    JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN) |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

static int
validation_failed(const struct opts *o, json_object *errors)
{
	json_object	*r;
	size_t		 i;

	if (!o->json) {
		fprintf(stdout, "JSON Schema validation failed:\n");
		for (i = 0; i < json_object_array_length(errors); i++) {
			json_object *e = json_object_array_get_idx(errors, i);

			printf("  %s: %s\n", json_object_to_json_string_ext(
			    json_object_object_get(e, "path"),
			    JSON_C_TO_STRING_PLAIN), json_object_get_string(
			    json_object_object_get(e, "message")));
		}
		return 2;
	}
	r = json_object_new_object();
	json_object_object_add(r, "type",
	    json_object_new_string("https://osbuild.org/validation-error"));
	json_object_object_add(r, "success", json_object_new_boolean(0));
	json_object_object_add(r, "title",
	    json_object_new_string("JSON Schema validation failed"));
	json_object_object_add(r, "errors", json_object_get(errors));
	print_json(r, 1);
	json_object_put(r);
	return 2;
}

static void
mark_needed(struct manifest *m, int pi)
{
	struct pipeline	*p = &m->p[pi];
	size_t		 i;

	if (p->needed)
		return;
	p->needed = 1;
	if (p->build >= 0)
		mark_needed(m, p->build);
	for (i = 0; i < p->nstages; i++) {
		json_object *in = p->stages[i].inputs;

		if (in == NULL)
			continue;
		json_object_object_foreach(in, name, desc) {
			const char **refs;
			json_object *origin;
			size_t n, k;

			(void)name;
			if (!json_object_object_get_ex(desc, "origin",
			    &origin) || strcmp(json_object_get_string(origin),
			    "org.osbuild.pipeline") != 0)
				continue;
			refs = input_sources(desc, &n);
			for (k = 0; k < n; k++)
				if (manifest_ref(m, refs[k]) >= 0)
					mark_needed(m, manifest_ref(m,
					    refs[k]));
			free(refs);
		}
	}
}

/* The first stage to run: the stages before it are in the store. */
static size_t
resume_point(struct store *st, struct pipeline *p)
{
	size_t	 k;
	char	*t;

	for (k = p->nstages; k > 0; k--) {
		if ((t = store_object_tree(st, p->stages[k - 1].id)) != NULL) {
			free(t);
			return k;
		}
	}
	return 0;
}

static int
wants_checkpoint(const struct opts *o, const struct pipeline *p,
    const struct stage *s)
{
	size_t	 i;

	if (s->kind->costly)
		return 1;
	for (i = 0; i < o->ncheckpoints; i++)
		if (strcmp(o->checkpoints[i], s->id) == 0 ||
		    strcmp(o->checkpoints[i], p->name) == 0 ||
		    strcmp(o->checkpoints[i], "*") == 0)
			return 1;
	return 0;
}

static json_object *
log_entry(const struct stage *s, const char *output, int success)
{
	json_object	*e = json_object_new_object();

	json_object_object_add(e, "id", json_object_new_string(s->id));
	json_object_object_add(e, "type", json_object_new_string(s->type));
	json_object_object_add(e, "output", json_object_new_string(output));
	if (!success)
		json_object_object_add(e, "success",
		    json_object_new_boolean(0));
	return e;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Builds one pipeline from where the store leaves off. On a stage failure
 * returns -1 with *failed set to its log entry (borrowed from p->log).
 */
static int
build_pipeline(const struct opts *o, struct store *st, struct manifest *m,
    struct pipeline *p, const char *rundir, struct stats *stats,
    json_object **failed)
{
	char		*work = NULL, *tree = NULL, *prev;
	size_t		 start, j;
	struct buf	 out;
	int		 ret = -1, link_usr = 1;

	p->log = json_object_new_array();
	start = resume_point(st, p);
	if (p->nstages > 0 && start == p->nstages) {
		p->tree = store_object_tree(st, p->id);
		p->meta = store_object_meta(st, p->id);
		stats->pipelines_cached++;
		monitor_log("Pipeline %s: cached (object %s), nothing to do",
		    p->name, p->id);
		log_info("pipeline %s: cached", p->name);
		return 0;
	}
	buf_init(&out);
	work = xasprintf("%s/%s", rundir, p->name);
	tree = xasprintf("%s/tree", work);
	if (mkdir(work, 0755) == -1) {
		log_warn("mkdir %s", work);
		goto cleanup;
	}
	if (start > 0) {
		prev = store_object_tree(st, p->stages[start - 1].id);
		monitor_log("Pipeline %s: resuming after stage %s (%s) from "
		    "the store", p->name, p->stages[start - 1].type,
		    p->stages[start - 1].id);
		log_info("pipeline %s: resuming after stage %zu (%s)", p->name,
		    start, p->stages[start - 1].type);
		for (j = start; j < p->nstages; j++)
			if (p->stages[j].kind != NULL &&
			    p->stages[j].kind->runs_tree)
				link_usr = 0;
		if (!link_usr)
			monitor_log("Pipeline %s: /usr copied, not linked: a "
			    "later stage runs the tree's programs", p->name);
		if (prev == NULL ||
		    store_restore(prev, tree, link_usr, &out) == -1) {
			log_warnx("pipeline %s: cannot restore: %s", p->name,
			    OUT(out));
			free(prev);
			goto cleanup;
		}
		free(prev);
		p->meta = store_object_meta(st, p->stages[start - 1].id);
	} else {
		if (mkdir(tree, 0755) == -1) {
			log_warn("mkdir %s", tree);
			goto cleanup;
		}
		p->meta = json_object_new_object();
	}
	if (p->nstages == 0) {
		p->tree = tree;
		tree = NULL;
		work = NULL;	/* removed with rundir */
		ret = 0;
		goto cleanup;
	}
	for (j = start; j < p->nstages; j++) {
		struct stage *s = &p->stages[j];
		struct stage_run r;
		struct timespec t0;
		char *stmp;
		int rc;

		monitor_context(p, s);
		monitor_subprogress(p->name, (int)j, (int)p->nstages);
		monitor_log("Starting module %s", s->type);
		log_info("pipeline %s: stage %s", p->name, s->type);
		stmp = xasprintf("%s/stage-%zu", work, j);
		if (mkdir(stmp, 0700) == -1) {
			log_warn("mkdir %s", stmp);
			free(stmp);
			goto cleanup;
		}
		buf_reset(&out);
		memset(&r, 0, sizeof(r));
		r.m = m;
		r.p = p;
		r.s = s;
		r.tree = tree;
		r.store = st->dir;
		r.tmpdir = stmp;
		r.out = &out;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = s->kind->run(&r);
		remove_tree(stmp);
		free(stmp);
		stats->stages_run++;
		monitor_subprogress(p->name, (int)j + 1, (int)p->nstages);
		monitor_result(s, rc == 0, OUT(out), seconds_since(&t0));
		json_object_array_add(p->log, log_entry(s, OUT(out), rc == 0));
		if (r.meta != NULL)
			json_object_object_add(p->meta, s->id, r.meta);
		if (rc != 0) {
			log_warnx("pipeline %s: stage %s failed", p->name,
			    s->type);
			*failed = json_object_array_get_idx(p->log,
			    json_object_array_length(p->log) - 1);
			goto cleanup;
		}
		if (j == p->nstages - 1) {
			buf_reset(&out);
			p->tree = store_commit(st, s->id, tree, p->meta, 1,
			    &out);
			if (p->tree == NULL) {
				log_warnx("pipeline %s: %s", p->name, OUT(out));
				goto cleanup;
			}
		} else if (wants_checkpoint(o, p, s)) {
			char *c;

			buf_reset(&out);
			if ((c = store_commit(st, s->id, tree, p->meta, 0,
			    &out)) == NULL)
				log_warnx("checkpoint %s: %s", s->id, OUT(out));
			free(c);
		}
	}
	monitor_context(p, NULL);
	ret = 0;
cleanup:
	if (work != NULL)
		remove_tree(work);
	free(work);
	free(tree);
	buf_free(&out);
	return ret;
}

static json_object *
collect_metadata(struct manifest *m)
{
	json_object	*all = json_object_new_object(), *v;
	size_t		 i, j;

	for (i = 0; i < m->np; i++) {
		struct pipeline *p = &m->p[i];
		json_object *data;

		if (!p->needed || p->meta == NULL)
			continue;
		data = json_object_new_object();
		for (j = 0; j < p->nstages; j++)
			if (json_object_object_get_ex(p->meta,
			    p->stages[j].id, &v))
				json_object_object_add(data,
				    p->stages[j].type, json_object_get(v));
		if (json_object_object_length(data) > 0)
			json_object_object_add(all, p->name, data);
		else
			json_object_put(data);
	}
	return all;
}

static json_object *
collect_log(struct manifest *m)
{
	json_object	*log = json_object_new_object();
	size_t		 i;

	for (i = 0; i < m->np; i++)
		if (m->p[i].log != NULL &&
		    json_object_array_length(m->p[i].log) > 0)
			json_object_object_add(log, m->p[i].name,
			    json_object_get(m->p[i].log));
	return log;
}

static json_object *
error_result(const char *etype, const char *key, json_object *detail,
    struct manifest *m)
{
	json_object	*r, *e, *d;

	r = json_object_new_object();
	json_object_object_add(r, "type", json_object_new_string("error"));
	json_object_object_add(r, "success", json_object_new_boolean(0));
	e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string(etype));
	d = json_object_new_object();
	json_object_object_add(d, key, detail);
	json_object_object_add(e, "details", d);
	json_object_object_add(r, "error", e);
	json_object_object_add(r, "log", collect_log(m));
	return r;
}

static int
parse_size(const char *s, int64_t *out)
{
	char	*end;

	if (strcmp(s, "unlimited") == 0) {
		*out = -1;
		return 0;
	}
	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno != 0 || end == s || *end != '\0' || *out < 0) ? -1 : 0;
}

/* Gathers the sources the stages to run need (borrowed strings). */
static const char **
needed_sources(struct store *st, struct manifest *m, size_t *np)
{
	const char	**all = NULL;
	size_t		 n = 0, i, j, k, start;

	for (i = 0; i < m->np; i++) {
		struct pipeline *p = &m->p[i];

		if (!p->needed)
			continue;
		start = resume_point(st, p);
		for (j = start; j < p->nstages; j++) {
			json_object *in = p->stages[j].inputs;

			if (in == NULL)
				continue;
			json_object_object_foreach(in, nm, desc) {
				json_object *origin;
				const char **refs;
				size_t rn;

				(void)nm;
				json_object_object_get_ex(desc, "origin",
				    &origin);
				if (strcmp(json_object_get_string(origin),
				    "org.osbuild.source") != 0)
					continue;
				refs = input_sources(desc, &rn);
				all = xrealloc(all, (n + rn + 1) *
				    sizeof(*all));
				for (k = 0; k < rn; k++)
					all[n++] = refs[k];
				free(refs);
			}
		}
	}
	*np = n;
	return all;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "output-directory", required_argument, NULL, 'o' },
		{ "cache-max-size", required_argument, NULL, 'c' },
		{ "export", required_argument, NULL, 'e' },
		{ "checkpoint", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "monitor", required_argument, NULL, 'm' },
		{ "monitor-fd", required_argument, NULL, 'f' },
		{ "libdir", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "generate-manifest", no_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts	 o;
	struct store	 st = { NULL, -1 };
	struct stats	 stats = { 0, 0, 0 };
	struct manifest	*m = NULL;
	json_object	*errors, *result = NULL, *failed = NULL;
	const char	*monitor = NULL, **sums = NULL;
	char		*text = NULL, *rundir = NULL, why[1024];
	size_t		 len = 0, i, nsums;
	int		 ch, rc = 1, fd, done = 0, total = 0;

	memset(&o, 0, sizeof(o));
	o.cache_max = -1;
	o.monitor_fd = -1;
	/* No core file: it would hold what the job handed us (secrets
	 * included, STYLE.md). Tools it runs get theirs back at exec. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	log_init(getenv("IB_BUILD_DEBUG") != NULL, LOG_TEXT);
	if (argc >= 2 && strcmp(argv[1], IB_CHILD_ARG) == 0) {
		/*
		 * _exit: the children chroot into the tree, where no /proc
		 * is, and LeakSanitizer's exit-time scan (make SANITIZE=1)
		 * fails the child there; what it holds ends with it.
		 */
		ch = run_child_main(argc - 2, argv + 2);
		fflush(stdout);
		fflush(stderr);
		_exit(ch);
	}
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': o.store = optarg; break;
		case 'o': o.outdir = optarg; break;
		case 'c':
			if (parse_size(optarg, &o.cache_max) == -1)
				fatalx("--cache-max-size: '%s' is not a byte "
				    "count or 'unlimited'", optarg);
			break;
		case 'e': add(&o.exports, &o.nexports, optarg); break;
		case 'k': add(&o.checkpoints, &o.ncheckpoints, optarg); break;
		case 'j': o.json = 1; break;
		case 'm': monitor = optarg; break;
		case 'f': o.monitor_fd = atoi(optarg); break;
		case 'l': break;	/* stages are built in */
		case 'V':
			printf("ib-build %s\n", IB_BUILD_VERSION);
			return 0;
		case 'G':
			return manifest_generate();
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	o.manifest = argv[optind];
	if (monitor != NULL && strcmp(monitor, "JSONSeqMonitor") != 0 &&
	    strcmp(monitor, "NullMonitor") != 0 &&
	    strcmp(monitor, "LogMonitor") != 0)
		fatalx("unknown monitor %s", monitor);
	if (monitor != NULL && strcmp(monitor, "JSONSeqMonitor") == 0 &&
	    o.monitor_fd >= 0) {
		if (fcntl(o.monitor_fd, F_GETFD) == -1)
			fatal("--monitor-fd=%d", o.monitor_fd);
		fcntl(o.monitor_fd, F_SETFD, FD_CLOEXEC);
		monitor_open(o.monitor_fd);
	}
	if (strcmp(o.manifest, "-") == 0)
		text = read_all(0, IB_MANIFEST_MAX, &len);
	else {
		if ((fd = open(o.manifest, O_RDONLY | O_CLOEXEC)) == -1)
			fatal("%s", o.manifest);
		text = read_all(fd, IB_MANIFEST_MAX, &len);
		close(fd);
	}
	if (text == NULL)
		fatal("reading the manifest");

	errors = json_object_new_array();
	if ((m = manifest_load(text, len, errors)) == NULL) {
		rc = validation_failed(&o, errors);
		json_object_put(errors);
		free(text);
		return rc;
	}
	json_object_put(errors);
	for (i = 0; i < o.nexports; i++) {
		if (manifest_find(m, o.exports[i]) < 0) {
			fprintf(stderr, "Export %s not found in the manifest\n",
			    o.exports[i]);
			goto out;
		}
		mark_needed(m, manifest_find(m, o.exports[i]));
	}
	for (i = 0; i < o.ncheckpoints; i++)
		if (manifest_find(m, o.checkpoints[i]) >= 0)
			mark_needed(m, manifest_find(m, o.checkpoints[i]));
	if (o.nexports == 0 && o.ncheckpoints == 0)
		for (i = 0; i < m->np; i++)
			mark_needed(m, (int)i);
	if (o.nexports > 0 && o.outdir == NULL)
		fatalx("--export needs --output-directory");
	if (store_open(&st, o.store ? o.store : ".osbuild") == -1)
		goto out;
	/* We hold the lock: whatever is in tmp/ was left by a dead build. */
	{
		char *tmp = xasprintf("%s/tmp", st.dir);

		remove_tree(tmp);
		mkdir(tmp, 0755);
		free(tmp);
	}
	if ((rundir = store_tmpdir(&st, "run")) == NULL)
		goto out;
	for (i = 0; i < m->np; i++)
		total += m->p[i].needed;
	total++;	/* the sources */
	monitor_progress(0, total);

	sums = needed_sources(&st, m, &nsums);
	if (sources_fetch(&st, m, sums, nsums, &stats.downloaded, why,
	    sizeof(why)) == -1) {
		json_object *src = json_object_new_object();

		log_warnx("sources: %s", why);
		json_object_object_add(src, "type",
		    json_object_new_string("org.osbuild.curl"));
		json_object_object_add(src, "output",
		    json_object_new_string(why));
		result = error_result("org.osbuild.error.source", "source",
		    src, m);
		goto out;
	}
	monitor_progress(++done, total);

	for (i = 0; i < m->np; i++) {
		struct pipeline *p = &m->p[i];

		if (!p->needed)
			continue;
		monitor_context(p, NULL);
		monitor_log("Starting pipeline %s", p->name);
		if (build_pipeline(&o, &st, m, p, rundir, &stats,
		    &failed) == -1) {
			json_object *stage = failed ? json_object_get(failed) :
			    json_object_new_object();

			if (failed == NULL) {
				json_object_object_add(stage, "type",
				    json_object_new_string("ib-build"));
				json_object_object_add(stage, "output",
				    json_object_new_string("internal error; "
				    "see the standard error"));
			}
			json_object_object_add(stage, "error", NULL);
			result = error_result("org.osbuild.error.stage",
			    "stage", stage, m);
			goto out;
		}
		monitor_context(p, NULL);
		monitor_progress(++done, total);
		monitor_log("Finished pipeline %s", p->name);
	}
	monitor_context(NULL, NULL);

	for (i = 0; i < o.nexports; i++) {
		struct pipeline *p = &m->p[manifest_find(m, o.exports[i])];
		char *dst = xasprintf("%s/%s", o.outdir, p->name);
		struct buf out;

		buf_init(&out);
		if (mkdir_p(o.outdir, 0755) == -1 ||
		    copy_tree(p->tree, dst, &out) == -1) {
			log_warnx("export %s: %s", p->name, OUT(out));
			result = error_result("org.osbuild.error.export",
			    "export", json_object_new_string(p->name), m);
			buf_free(&out);
			free(dst);
			goto out;
		}
		monitor_log("Exported %s to %s", p->name, dst);
		buf_free(&out);
		free(dst);
	}
	if (o.cache_max >= 0)
		store_evict(&st, o.cache_max);

	result = json_object_new_object();
	json_object_object_add(result, "type", json_object_new_string("result"));
	json_object_object_add(result, "success", json_object_new_boolean(1));
	json_object_object_add(result, "metadata", collect_metadata(m));
	json_object_object_add(result, "log", collect_log(m));
	rc = 0;
out:
	log_info("ib-build: downloaded %lld bytes, ran %d stages, %d "
	    "pipelines cached", (long long)stats.downloaded, stats.stages_run,
	    stats.pipelines_cached);
	monitor_log("Build summary: downloaded %lld bytes, ran %d stages, %d "
	    "pipelines cached", (long long)stats.downloaded, stats.stages_run,
	    stats.pipelines_cached);
	if (result != NULL) {
		if (o.json)
			print_json(result, 1);
		else
			printf("%s\n", rc == 0 ? "build succeeded" :
			    "build failed");
	}
	if (rundir != NULL) {
		remove_tree(rundir);
		free(rundir);
	}
	monitor_close();
	json_object_put(result);
	free(sums);
	manifest_free(m);
	store_close(&st);
	free(o.exports);
	free(o.checkpoints);
	free(text);
	return rc;
}
