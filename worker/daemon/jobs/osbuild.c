/*
 * osbuild: build the manifest of the job with the configured osbuild, follow
 * its progress on the monitor pipe, check the exports, run the targets one
 * after the other, and fill the result as the reference worker does. The
 * output directory is removed whatever happened; the store is the cache's.
 */
#include <sys/stat.h>
#include <sys/utsname.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cache.h"
#include "exec.h"
#include "executor/executor.h"
#include "health.h"
#include "jobs/jobs.h"
#include "jsonutil.h"
#include "log.h"
#include "sdnotify.h"
#include "targets.h"
#include "util.h"

#define OSB_MONITOR_MAX		(1 << 20)	/* one monitor record */
#define OSB_PARTIAL_MS		5000		/* between progress updates */
#define OSB_INFO_MS		10000		/* between coarse progress lines */
#define OSB_DETAIL_MAX		(64 << 10)	/* per string in job_error */
#define OSB_MAX_TARGETS		64
#define OSB_VERSION_TIMEOUT_MS	60000

struct monitor {
	struct buf		 pending;
	struct job		*job;
	const struct job_ctx	*ctx;
	char			*pipeline;
	char			*stage;
	int64_t			 done, total;	/* pipelines */
	int64_t			 sdone, stotal;	/* stages of this pipeline */
	int64_t			 stage_since;
	int64_t			 last_partial;
	int64_t			 last_info;	/* the coarse progress line */
	json_object		*held;		/* progress update not sent yet */
	int			 overflowed;
};

struct argv {
	char	**v;
	size_t	 n, cap;
};

static void
argv_add(struct argv *a, char *s)	/* takes s */
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void
argv_free(struct argv *a)
{
	size_t	 i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

/* The tail of s (at most max bytes) as a new JSON string. */
static json_object *
tail_string(const char *s, size_t max)
{
	size_t	 n = strlen(s);

	if (n > max)
		s += n - max;
	return json_object_new_string(s);
}

static char *
host_os(void)
{
	char	*data, *line, *save = NULL, *id = NULL, *ver = NULL, *r;

	if ((data = read_file("/etc/os-release", 65536, NULL)) == NULL)
		return xstrdup("linux");
	for (line = strtok_r(data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char **dst = NULL;
		size_t n;

		if (strncmp(line, "ID=", 3) == 0)
			dst = &id, line += 3;
		else if (strncmp(line, "VERSION_ID=", 11) == 0)
			dst = &ver, line += 11;
		else
			continue;
		if (*line == '"' || *line == '\'')
			line++;
		n = strlen(line);
		if (n > 0 && (line[n - 1] == '"' || line[n - 1] == '\''))
			line[--n] = '\0';
		*dst = line;
	}
	if (id == NULL)
		r = xstrdup("linux");
	else if (ver == NULL)
		r = xstrdup(id);
	else
		r = xasprintf("%s-%s", id, ver);
	free(data);
	return r;
}

static char *
worker_arch(const struct config *conf)
{
	struct utsname	 u;

	if (conf != NULL && conf->worker.arch != NULL)
		return xstrdup(conf->worker.arch);
	if (uname(&u) == -1)
		return xstrdup("x86_64");
	return xstrdup(u.machine);
}

/* ---- the monitor pipe: RFC 7464 records as they arrive ---- */

/*
 * Sends body now (takes it); a refusal is logged, the build goes on. The
 * 2026 composer answers an update for a job canceled meanwhile with a 500
 * (1010): the job's status then says whether that is it, and the watcher
 * stops the build now rather than at the next heartbeat.
 */
static void
partial_put(struct monitor *m, json_object *body)
{
	int	 canceled = 0;

	m->last_partial = now_ms();
	if (api_update_partial(m->ctx->api, m->job->location, body) !=
	    API_OK) {
		log_warnx("osbuild: progress update not taken: %s",
		    api_error(m->ctx->api));
		if (api_status(m->ctx->api) >= 500 &&
		    api_job_status(m->ctx->api, m->job->location,
		    &canceled) == API_OK && canceled &&
		    atomic_exchange(&m->job->canceled, 1) == 0)
			log_warnx("stopping the job: the server canceled it");
	}
	json_object_put(body);
}

/*
 * The progress update for this record: sent now, or, within OSB_PARTIAL_MS
 * of the last one, held (replacing any older held one) for monitor_tick to
 * send when the window ends, so that the server sees the latest progress.
 */
static void
send_partial(struct monitor *m, const char *message, json_object *progress)
{
	json_object	*partial, *p, *sub, *v;

	if (!m->ctx->partial || m->ctx->api == NULL)
		return;
	p = json_object_new_object();
	json_object_object_add(p, "message", json_object_new_string(message));
	if (progress != NULL) {
		if (json_object_object_get_ex(progress, "done", &v))
			json_object_object_add(p, "done", json_object_get(v));
		if (json_object_object_get_ex(progress, "total", &v))
			json_object_object_add(p, "total", json_object_get(v));
		if (json_object_object_get_ex(progress, "progress", &sub) &&
		    json_object_is_type(sub, json_type_object)) {
			json_object *s = json_object_new_object();

			if ((v = json_object_object_get(sub, "name")) != NULL)
				json_object_object_add(s, "message",
				    json_object_get(v));
			if ((v = json_object_object_get(sub, "done")) != NULL)
				json_object_object_add(s, "done",
				    json_object_get(v));
			if ((v = json_object_object_get(sub, "total")) != NULL)
				json_object_object_add(s, "total",
				    json_object_get(v));
			json_object_object_add(p, "sub_progress", s);
		}
	}
	partial = json_object_new_object();
	json_object_object_add(partial, "progress", p);
	json_object_put(m->held);
	m->held = NULL;
	if (now_ms() - m->last_partial < OSB_PARTIAL_MS)
		m->held = partial;
	else
		partial_put(m, partial);
}

/*
 * While osbuild runs: the held progress update once its window ends, and
 * a progress line every OSB_INFO_MS, also in a long stage that says
 * nothing.
 */
static void
monitor_tick(void *arg)
{
	struct monitor	*m = arg;
	int64_t		 now = now_ms();
	json_object	*held;

	if (m->held != NULL && now - m->last_partial >= OSB_PARTIAL_MS) {
		held = m->held;
		m->held = NULL;
		partial_put(m, held);
	}
	if (m->stage != NULL && now - m->last_info >= OSB_INFO_MS) {
		m->last_info = now;
		log_info("osbuild: pipeline %s %lld/%lld, stage %s %lld/%lld, "
		    "%lld s in it", m->pipeline ? m->pipeline : "?",
		    (long long)(m->done < m->total ? m->done + 1 : m->done),
		    (long long)m->total, m->stage, (long long)(m->sdone <
		    m->stotal ? m->sdone + 1 : m->sdone), (long long)m->stotal,
		    (long long)((now - m->stage_since) / 1000));
	}
}

static void
monitor_record(struct monitor *m, const char *text, size_t len)
{
	struct json_tokener	*tok;
	json_object		*rec, *ctxo, *pipe, *stage, *prog;
	const char		*msg, *pname = NULL, *sname = NULL;
	char			 line[512];

	tok = json_tokener_new();
	rec = json_tokener_parse_ex(tok, text, (int)len);
	json_tokener_free(tok);
	if (rec == NULL || !json_object_is_type(rec, json_type_object)) {
		log_debug("osbuild: unparsable monitor record ignored");
		json_object_put(rec);
		return;
	}
	if (json_object_object_get_ex(rec, "context", &ctxo) &&
	    json_object_object_get_ex(ctxo, "pipeline", &pipe)) {
		pname = json_get_str(pipe, "name");
		if (json_object_object_get_ex(pipe, "stage", &stage))
			sname = json_get_str(stage, "name");
	}
	if (pname != NULL && (m->pipeline == NULL ||
	    strcmp(pname, m->pipeline) != 0)) {
		free(m->pipeline);
		m->pipeline = xstrdup(pname);
		log_info("osbuild: pipeline %s", pname);
	}
	if (sname != NULL && (m->stage == NULL ||
	    strcmp(sname, m->stage) != 0)) {
		free(m->stage);
		m->stage = xstrdup(sname);
		m->stage_since = now_ms();
		log_debug("osbuild: stage %s (pipeline %s)", sname,
		    m->pipeline ? m->pipeline : "?");
	}
	prog = NULL;
	if (json_object_object_get_ex(rec, "progress", &prog) &&
	    json_object_is_type(prog, json_type_object)) {
		int64_t d = json_object_get_int64(
		    json_object_object_get(prog, "done"));
		int64_t t = json_object_get_int64(
		    json_object_object_get(prog, "total"));
		int64_t sd = m->sdone, st = m->stotal;
		json_object *sub;

		if (json_object_object_get_ex(prog, "progress", &sub) &&
		    json_object_is_type(sub, json_type_object)) {
			sd = json_object_get_int64(
			    json_object_object_get(sub, "done"));
			st = json_object_get_int64(
			    json_object_object_get(sub, "total"));
		}
		if (d != m->done || t != m->total || sd != m->sdone ||
		    st != m->stotal) {
			m->done = d;
			m->total = t;
			m->sdone = sd;
			m->stotal = st;
			log_debug("osbuild: progress %lld/%lld",
			    (long long)d, (long long)t);
			/* Pipeline and stage names come from the manifest:
			 * ib_sd_status bounds and cleans them. */
			ib_sd_status("building: pipeline %s %lld/%lld, stage "
			    "%lld/%lld", m->pipeline ? m->pipeline : "?",
			    (long long)(d < t ? d + 1 : d), (long long)t,
			    (long long)(sd < st ? sd + 1 : sd), (long long)st);
		}
	} else
		prog = NULL;
	if ((msg = json_get_str(rec, "message")) != NULL && *msg != '\0') {
		snprintf(line, sizeof(line), "%s", msg);
		rtrim(line);
		log_debug("osbuild: %s", line);
		/* Per stage is debug; info hears of it from monitor_tick. */
		send_partial(m, line, prog);
	}
	json_object_put(rec);
}

static void
monitor_feed(const char *data, size_t n, void *arg)
{
	struct monitor	*m = arg;
	char		*nl, *start;
	size_t		 used;

	buf_add(&m->pending, data, n);
	for (;;) {
		nl = memchr(m->pending.data, '\n', m->pending.len);
		if (nl == NULL) {
			if (m->pending.len > OSB_MONITOR_MAX) {
				if (!m->overflowed)
					log_warnx("osbuild: monitor record "
					    "over %d bytes dropped",
					    OSB_MONITOR_MAX);
				m->overflowed = 1;
				buf_reset(&m->pending);
			}
			return;
		}
		used = nl - m->pending.data + 1;
		start = m->pending.data;
		while (start < nl && (*start == 0x1e || *start == ' ' ||
		    *start == '\r'))
			start++;
		if (start < nl)
			monitor_record(m, start, nl - start);
		memmove(m->pending.data, m->pending.data + used,
		    m->pending.len - used);
		m->pending.len -= used;
		m->pending.data[m->pending.len] = '\0';
	}
}

/* ---- the job ---- */

static json_object *
base_result(const struct job *job, const struct job_ctx *ctx)
{
	json_object	*r, *o, *v;
	char		*s;

	r = json_object_new_object();
	json_object_object_add(r, "success", json_object_new_boolean(0));
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(0));
	json_object_object_add(r, "osbuild_output", o);
	json_object_object_add(r, "upload_status",
	    json_object_new_string("failure"));
	if (json_object_object_get_ex(job->args, "pipeline_names", &v) &&
	    v != NULL)
		json_object_object_add(r, "pipeline_names", json_object_get(v));
	if (json_object_object_get_ex(job->args, "image_boot_mode", &v) &&
	    v != NULL)
		json_object_object_add(r, "image_boot_mode",
		    json_object_get(v));
	s = host_os();
	json_object_object_add(r, "host_os", json_object_new_string(s));
	free(s);
	s = worker_arch(ctx->conf);
	json_object_object_add(r, "arch", json_object_new_string(s));
	free(s);
	return r;
}

/*
 * The manifest: args.manifest, or the data of the manifest dependency
 * (then *from is that dependency's result). Sets *err_id and returns NULL
 * when there is none. Borrowed.
 */
static json_object *
find_manifest(const struct job *job, json_object **from, int *err_id,
    const char **reason)
{
	json_object	*m = NULL, *dyn, *v;
	int		 idx = 0, n;

	*from = NULL;

	if (json_object_object_get_ex(job->args, "manifest", &m) && m != NULL &&
	    json_object_is_type(m, json_type_object) &&
	    json_object_object_length(m) > 0)
		return m;
	n = job->dynamic_args ? (int)json_object_array_length(job->dynamic_args)
	    : 0;
	if (n > 0) {
		if (json_object_object_get_ex(job->args,
		    "manifest_dyn_args_idx", &v) && v != NULL)
			idx = json_object_get_int(v);
		if (idx < 0 || idx >= n) {
			*err_id = JOB_ERR_PARSING_DYNAMIC_ARGS;
			*reason = "manifest_dyn_args_idx is out of range";
			return NULL;
		}
		dyn = json_object_array_get_idx(job->dynamic_args, idx);
		if (job_result_error(dyn) != NULL) {
			*err_id = JOB_ERR_MANIFEST_DEPENDENCY;
			*reason = "Manifest dependency failed";
			return NULL;
		}
		if (json_object_object_get_ex(dyn, "data", &m) && m != NULL &&
		    json_object_is_type(m, json_type_object) &&
		    json_object_object_length(m) > 0) {
			*from = dyn;
			return m;
		}
	}
	*err_id = JOB_ERR_EMPTY_MANIFEST;
	*reason = "Job has no manifest";
	return NULL;
}

/*
 * Checks every target before anything runs: known type, safe names.
 * Collects the distinct export names into exports (copies).
 */
static int
check_targets(json_object *targets, struct argv *exports, char *why,
    size_t whylen)
{
	json_object	*t, *art;
	const char	*name, *ename, *efile, *iname;
	size_t		 i, j, n;

	n = json_object_array_length(targets);
	if (n > OSB_MAX_TARGETS) {
		snprintf(why, whylen, "too many targets (%zu)", n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(targets, i);
		name = json_get_str(t, "name");
		if (target_kind_find(name) == NULL) {
			snprintf(why, whylen, "invalid target type: %s",
			    name ? name : "(none)");
			return -1;
		}
		if (!json_object_object_get_ex(t, "osbuild_artifact", &art)) {
			snprintf(why, whylen, "target %zu has no "
			    "osbuild_artifact", i);
			return -1;
		}
		ename = json_get_str(art, "export_name");
		efile = json_get_str(art, "export_filename");
		iname = json_get_str(t, "image_name");
		/*
		 * A container target's image name is a registry reference,
		 * slashes and all; its target checks it as one.
		 */
		if (strcmp(name, "org.osbuild.container") == 0)
			iname = NULL;
		if (!name_is_safe(ename) || !name_is_safe(efile) ||
		    (iname != NULL && *iname != '\0' && !name_is_safe(iname))) {
			snprintf(why, whylen, "target %zu: export name, export "
			    "filename or image name is missing or unsafe", i);
			return -1;
		}
		for (j = 0; j < exports->n; j++)
			if (strcmp(exports->v[j], ename) == 0)
				break;
		if (j == exports->n)
			argv_add(exports, xstrdup(ename));
	}
	return 0;
}

static char *
osbuild_version(const char *osbuild, const struct job *job, char *why,
    size_t whylen)
{
	const char		*argv[] = { osbuild, "--version", NULL };
	struct exec_opts	 o;
	struct exec_result	 res;
	char			*v = NULL, st[64];

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.stdout_max = 4096;
	o.timeout_ms = OSB_VERSION_TIMEOUT_MS;
	o.abort = &job->canceled;
	if (exec_run(&o, &res) == -1) {
		snprintf(why, whylen, "%s", res.error);
		goto cleanup;
	}
	if (!res.exited || res.code != 0) {
		snprintf(why, whylen, "%s --version: %s", osbuild,
		    exec_status_str(&res, st, sizeof(st)));
		goto cleanup;
	}
	rtrim(res.out.data);
	v = xstrdup(strncmp(res.out.data, "osbuild ", 8) == 0 ?
	    res.out.data + 8 : res.out.data);
cleanup:
	exec_result_free(&res);
	return v;
}

/* The job error of a build osbuild reported as failed (its own JSON). */
static void
build_failed(json_object *result, json_object *out)
{
	json_object	*details, *e, *log, *errs;
	const char	*failed = NULL;
	char		 reason[512];
	size_t		 i, n;

	details = json_object_new_array();
	if (json_object_object_get_ex(out, "error", &e) && e != NULL) {
		char *s = xasprintf("osbuild error: %s",
		    json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
		json_object_array_add(details, tail_string(s, OSB_DETAIL_MAX));
		free(s);
	}
	if (json_object_object_get_ex(out, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array)) {
		n = json_object_array_length(errs);
		for (i = 0; i < n && i < 100; i++) {
			char *s = xasprintf("manifest validation error: %s",
			    json_object_to_json_string_ext(
			    json_object_array_get_idx(errs, i),
			    JSON_C_TO_STRING_PLAIN));
			json_object_array_add(details,
			    tail_string(s, OSB_DETAIL_MAX));
			free(s);
		}
	}
	/* The failing stages: their type names the error, their output
	 * (the tail of it) is what a reader needs first. */
	if (json_object_object_get_ex(out, "log", &log) &&
	    json_object_is_type(log, json_type_object)) {
		json_object_object_foreach(log, pname, stages) {
			if (!json_object_is_type(stages, json_type_array))
				continue;
			n = json_object_array_length(stages);
			for (i = 0; i < n; i++) {
				json_object *st = json_object_array_get_idx(
				    stages, i), *ok;
				const char *out_s;
				char *s;

				if (!json_object_object_get_ex(st, "success",
				    &ok) || json_object_get_boolean(ok))
					continue;
				if (failed == NULL)
					failed = json_get_str(st, "type");
				out_s = json_get_str(st, "output");
				s = xasprintf("stage %s of pipeline %s failed; "
				    "output: %s", json_get_str(st, "type") ?
				    json_get_str(st, "type") : "?", pname,
				    out_s ? out_s : "");
				json_object_array_add(details,
				    tail_string(s, OSB_DETAIL_MAX));
				log_info("osbuild: stage %s of pipeline %s "
				    "failed", json_get_str(st, "type") ?
				    json_get_str(st, "type") : "?", pname);
				free(s);
			}
		}
	}
	if (failed != NULL)
		snprintf(reason, sizeof(reason), "osbuild build failed in "
		    "stage: \"%s\"", failed);
	else
		snprintf(reason, sizeof(reason), "osbuild build failed");
	job_set_error(result, JOB_ERR_BUILD, reason, details);
}

/* Environment for osbuild's sources, as the reference passes it. */
static void
extra_env(const struct config *conf, struct argv *env)
{
	if (conf->containers.auth_file_path != NULL)
		argv_add(env, xasprintf("REGISTRY_AUTH_FILE=%s",
		    conf->containers.auth_file_path));
	if (conf->repository_mtls.baseurl == NULL)
		return;
	if (conf->repository_mtls.ca != NULL) {
		argv_add(env, xasprintf("OSBUILD_SOURCES_CURL_SSL_CA_CERT=%s",
		    conf->repository_mtls.ca));
		argv_add(env, xasprintf("OSBUILD_SOURCES_OSTREE_SSL_CA_CERT=%s",
		    conf->repository_mtls.ca));
	}
	if (conf->repository_mtls.mtls_client_key != NULL) {
		argv_add(env, xasprintf("OSBUILD_SOURCES_CURL_SSL_CLIENT_KEY=%s",
		    conf->repository_mtls.mtls_client_key));
		argv_add(env, xasprintf(
		    "OSBUILD_SOURCES_OSTREE_SSL_CLIENT_KEY=%s",
		    conf->repository_mtls.mtls_client_key));
	}
	if (conf->repository_mtls.mtls_client_cert != NULL) {
		argv_add(env, xasprintf(
		    "OSBUILD_SOURCES_CURL_SSL_CLIENT_CERT=%s",
		    conf->repository_mtls.mtls_client_cert));
		argv_add(env, xasprintf(
		    "OSBUILD_SOURCES_OSTREE_SSL_CLIENT_CERT=%s",
		    conf->repository_mtls.mtls_client_cert));
	}
	if (conf->repository_mtls.proxy != NULL) {
		argv_add(env, xasprintf("OSBUILD_SOURCES_CURL_PROXY=%s",
		    conf->repository_mtls.proxy));
		argv_add(env, xasprintf("OSBUILD_SOURCES_OSTREE_PROXY=%s",
		    conf->repository_mtls.proxy));
	}
}

/* Why osbuild produced no result, ENOSPC named when that is the cause. */
static void
run_failed(json_object *result, const struct exec_result *res,
    const char *cache_dir, const char *what)
{
	char	 st[64], reason[512], *d;
	int64_t	 avail = cache_free_bytes(cache_dir);

	exec_status_str(res, st, sizeof(st));
	if (strstr(res->err.data, "No space left on device") != NULL ||
	    (avail >= 0 && avail < (1 << 20)))
		snprintf(reason, sizeof(reason), "osbuild failed: no space "
		    "left on device (ENOSPC) in the cache %s (%s)", cache_dir,
		    st);
	else
		snprintf(reason, sizeof(reason), "osbuild failed: %s (%s)",
		    what, st);
	d = xasprintf("%s; stderr: %s; stdout: %.4096s", st,
	    res->err.data + (res->err.len > 16384 ? res->err.len - 16384 : 0),
	    res->out.data);
	job_set_error(result, JOB_ERR_BUILD, reason, json_object_new_string(d));
	free(d);
}

/*
 * The checksums of the manifest's org.osbuild.curl items that can name a
 * file (copies): a VM executor sends the ones the store has.
 */
static void
curl_sources(json_object *manifest, struct argv *sums)
{
	json_object	*src, *curl, *items;

	if (!json_object_object_get_ex(manifest, "sources", &src) ||
	    !json_object_object_get_ex(src, "org.osbuild.curl", &curl) ||
	    !json_object_object_get_ex(curl, "items", &items) ||
	    !json_object_is_type(items, json_type_object))
		return;
	json_object_object_foreach(items, sum, v) {
		(void)v;
		if (name_is_safe(sum) && sums->n < 100000)
			argv_add(sums, xstrdup(sum));
	}
}

static json_object *
osbuild_run(struct job *job, const struct job_ctx *ctx)
{
	const struct config	*conf = ctx->conf;
	const struct executor	*ex = executor_of(conf);
	struct executor_build	 b;
	struct executor_result	 xr;
	struct exec_result	*res = &xr.res;
	struct monitor		 mon;
	struct argv		 env = { NULL, 0, 0 }, sums = { NULL, 0, 0 };
	struct argv		 exports = { NULL, 0, 0 };
	struct target_ctx	 tctx;
	json_object		*result, *manifest, *targets = NULL, *out = NULL;
	json_object		*terrors;
	json_object		*from, *info, *pn;
	const char		*osbuild, *reason = NULL, *mtext;
	char			 why[512], *version = NULL, *outdir = NULL;
	char			*store = NULL;
	size_t			 i, n;
	int			 err_id = 0, ran = 0;

	memset(&xr, 0, sizeof(xr));
	memset(&mon, 0, sizeof(mon));
	buf_init(&mon.pending);
	result = base_result(job, ctx);
	osbuild = conf->worker.osbuild ? conf->worker.osbuild : "osbuild";

	if ((manifest = find_manifest(job, &from, &err_id, &reason)) == NULL) {
		job_set_error(result, err_id, reason, NULL);
		goto done;
	}
	/*
	 * The 2026 composer's cloud API gives the pipeline names in the
	 * manifest job's result (info.pipeline_names), not in the args; its
	 * compose metadata needs them in our result.
	 */
	if (!json_object_object_get_ex(result, "pipeline_names", NULL) &&
	    from != NULL && json_object_object_get_ex(from, "info", &info) &&
	    json_object_is_type(info, json_type_object) &&
	    json_object_object_get_ex(info, "pipeline_names", &pn) &&
	    json_object_is_type(pn, json_type_object))
		json_object_object_add(result, "pipeline_names",
		    json_object_get(pn));
	n = job->dynamic_args ? json_object_array_length(job->dynamic_args) : 0;
	for (i = 0; i < n; i++)
		if (job_result_error(json_object_array_get_idx(
		    job->dynamic_args, i)) != NULL) {
			job_set_error(result, JOB_ERR_DEPENDENCY,
			    "Job dependency failed", NULL);
			goto done;
		}
	if (!json_object_object_get_ex(job->args, "targets", &targets) ||
	    !json_object_is_type(targets, json_type_array))
		targets = NULL;
	if (targets == NULL || json_object_array_length(targets) == 0) {
		job_set_error(result, JOB_ERR_INVALID_TARGET_CONFIG,
		    "no osbuild export specified for the job", NULL);
		goto done;
	}
	if (check_targets(targets, &exports, why, sizeof(why)) == -1) {
		job_set_error(result, JOB_ERR_INVALID_TARGET, why, NULL);
		goto done;
	}

	/* In a VM, the agent says the version with the build's result. */
	if (ex == &executor_host && (version = osbuild_version(osbuild, job,
	    why, sizeof(why))) == NULL) {
		job_set_error(result, JOB_ERR_BUILD,
		    "Error getting osbuild binary version",
		    json_object_new_string(why));
		goto done;
	}
	if (version != NULL)
		json_object_object_add(result, "osbuild_version",
		    json_object_new_string(version));

	/* Make room first: a build that fills the disk fails late. */
	cache_prepare(conf, ctx->cache_dir);
	outdir = cache_output_new(ctx->cache_dir,
	    name_is_safe(job->id) ? job->id : "job", why, sizeof(why));
	if (outdir == NULL) {
		job_set_error(result, JOB_ERR_BUILD, why, NULL);
		goto done;
	}
	store = cache_path(ctx->cache_dir, CACHE_STORE);

	extra_env(conf, &env);
	argv_add(&exports, NULL);	/* NULL-terminated for the executor */
	exports.n--;
	curl_sources(manifest, &sums);
	argv_add(&sums, NULL);
	sums.n--;

	mtext = json_object_to_json_string_ext(manifest,
	    JSON_C_TO_STRING_PLAIN);
	mon.job = job;
	mon.ctx = ctx;
	mon.last_partial = 0;
	mon.last_info = now_ms();
	memset(&b, 0, sizeof(b));
	b.build_id = name_is_safe(job->id) ? job->id : "job";
	b.builder = osbuild;
	b.manifest = mtext;
	b.manifest_len = strlen(mtext);
	b.exports = (const char *const *)exports.v;
	b.sources = (const char *const *)sums.v;
	b.store = store;
	b.outdir = outdir;
	b.env_add = (const char *const *)env.v;
	b.cache_max = conf->worker.cache_max_bytes;
	b.on_monitor = monitor_feed;
	b.on_tick = monitor_tick;
	b.arg = &mon;
	b.grace_ms = conf->worker.cancel_grace > 0 ?
	    conf->worker.cancel_grace * 1000 : 0;
	b.canceled = &job->canceled;
	b.pgid = &job->pgid;
	log_setfield(LOG_F_PHASE, "build");
	log_info("osbuild: starting %s on the %s executor (exports:%s%s)",
	    osbuild, ex->name, exports.n > 0 ? " " : "",
	    exports.n > 0 ? exports.v[0] : "");
	log_debug("osbuild: start");
	if (ex->build(conf, &b, &xr) == -1) {
		job_set_error(result, JOB_ERR_BUILD, "osbuild build failed",
		    json_object_new_string(res->error));
		goto done;
	}
	if (version == NULL && xr.version != NULL) {
		version = xstrdup(xr.version);
		json_object_object_add(result, "osbuild_version",
		    json_object_new_string(version));
	}
	ran = 1;
	log_debug("osbuild: exited");
	/* The last progress osbuild gave, before the uploads. */
	if (mon.held != NULL && !res->canceled) {
		partial_put(&mon, mon.held);
		mon.held = NULL;
	}
	if (res->canceled) {
		log_info("osbuild: build canceled");
		job_set_error(result, JOB_ERR_BUILD, "the build was canceled",
		    NULL);
		goto done;
	}
	if (res->out.len == 0) {
		run_failed(result, res, ctx->cache_dir,
		    "osbuild did not return any output");
		goto done;
	}
	out = json_tokener_parse(res->out.data);
	if (out == NULL || !json_object_is_type(out, json_type_object) ||
	    !json_object_object_get_ex(out, "success", NULL)) {
		run_failed(result, res, ctx->cache_dir,
		    "error decoding osbuild output");
		goto done;
	}
	json_object_object_add(result, "osbuild_output", json_object_get(out));
	if (!json_object_get_boolean(json_object_object_get(out, "success"))) {
		char st[64];

		log_info("osbuild: build failed (%s)",
		    exec_status_str(res, st, sizeof(st)));
		build_failed(result, out);
		goto done;
	}
	log_info("osbuild: build succeeded");
	log_setfield(LOG_F_PHASE, "upload");
	memset(&tctx, 0, sizeof(tctx));
	tctx.conf = ctx->conf;
	tctx.api = ctx->api;
	tctx.artifact_location = job->artifact_location;
	/* Targets that register images (EC2's BootMode) need the build's. */
	tctx.image_boot_mode = json_get_str(job->args, "image_boot_mode");
	tctx.abort = &job->canceled;
	tctx.metrics = ctx->metrics;
	tctx.manifest = manifest;
	tctx.osbuild_output = out;
	/* Koji records which composer made the manifest. */
	if (from != NULL && json_object_object_get_ex(from, "info", &info) &&
	    json_object_is_type(info, json_type_object))
		tctx.manifest_info = info;
	/* Koji uploads the depsolve job's SBOMs (depsolve_dyn_args_idx). */
	tctx.job_args = job->args;
	tctx.dynamic_args = job->dynamic_args;
	tctx.pipeline_names = json_object_object_get(result, "pipeline_names");
	tctx.job_location = job->location;
	tctx.partial = ctx->partial;
	tctx.last_partial = &mon.last_partial;
	if ((terrors = targets_run(result, &tctx, ctx->generation, targets,
	    outdir)) != NULL) {
		job_set_error(result, JOB_ERR_TARGET,
		    "at least one target failed", terrors);
	} else {
		json_object_object_add(result, "success",
		    json_object_new_boolean(1));
		json_object_object_add(result, "upload_status",
		    json_object_new_string("success"));
	}

done:
	if (outdir != NULL && remove_tree(outdir) == -1)
		log_warn("osbuild: cannot remove %s", outdir);
	if (ran)
		log_debug("osbuild: output removed");
	json_object_put(out);
	executor_result_free(&xr);
	buf_free(&mon.pending);
	json_object_put(mon.held);
	free(mon.pipeline);
	free(mon.stage);
	argv_free(&sums);
	argv_free(&env);
	argv_free(&exports);
	free(outdir);
	free(store);
	free(version);
	return result;
}

const struct job_kind job_kind_osbuild = {
	"osbuild", osbuild_run, 0, health_osbuild_available
};
