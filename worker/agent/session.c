/*
 * One build session of ib-agent: the set-up frames, the builder run with
 * its monitor stream relayed, the result and the exports. Everything that
 * comes from the connection is bounded and checked: the names of sources
 * and exports become path components only when name_is_safe says so.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "exec.h"
#include "frame.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define AG_MAX_EXPORTS	64
#define AG_MAX_DEPTH	16
#define AG_IO_MS	60000	/* one frame to the worker */

struct session {
	const struct agent_opts	*o;
	int			 fd, lfd;
	const atomic_int	*quit;
	atomic_int		 canceled;
	int			 lost;		/* the worker went away */
	int64_t			 last_beat;
	struct buf		 in;
	char			 why[256];
};

void
agent_refuse(int fd, const char *why)
{
	char	 w[128];

	(void)frame_write(fd, AG_ERROR, why, strlen(why), 2000, NULL, w,
	    sizeof(w));
	close(fd);
}

static int
send_frame(struct session *s, char type, const void *d, size_t n)
{
	if (s->lost)
		return -1;
	if (frame_write(s->fd, type, d, n, AG_IO_MS, NULL, s->why,
	    sizeof(s->why)) == -1) {
		log_warnx("agent: the worker is gone: %s", s->why);
		s->lost = 1;
		atomic_store(&s->canceled, 1);
		return -1;
	}
	return 0;
}

/* Sends len bytes as frames of type, FRAME_MAX at a time. */
static int
send_chunks(struct session *s, char type, const char *d, size_t len)
{
	size_t	 n;

	while (len > 0) {
		n = len > FRAME_MAX ? FRAME_MAX : len;
		if (send_frame(s, type, d, n) == -1)
			return -1;
		d += n;
		len -= n;
	}
	return 0;
}

/* A second worker while we build: refused, the build goes on. */
static void
refuse_others(struct session *s)
{
	int	 c;

	while (s->lfd != -1 && frame_wait(s->lfd, 0) == 1) {
		if ((c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			return;
		log_info("agent: a second connection refused: a build is "
		    "being served");
		agent_refuse(c, "busy: this agent serves one build");
	}
}

/* Receives size bytes of DATA frames into path (created, 0644). */
static int
recv_file(struct session *s, const char *path, int64_t size)
{
	char	 type;
	int	 fd, r = -1;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1) {
		snprintf(s->why, sizeof(s->why), "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (size > 0) {
		if (frame_read(s->fd, &type, &s->in, AG_STEP_MS, s->quit,
		    s->why, sizeof(s->why)) != 0)
			goto cleanup;
		if (type != AG_DATA || (int64_t)s->in.len > size) {
			snprintf(s->why, sizeof(s->why), "a file's data is "
			    "not what its header said");
			goto cleanup;
		}
		if (write_all(fd, s->in.data, s->in.len) == -1) {
			snprintf(s->why, sizeof(s->why), "%s: %s", path,
			    strerror(errno));
			goto cleanup;
		}
		size -= (int64_t)s->in.len;
	}
	r = 0;
cleanup:
	if (close(fd) == -1 && r == 0) {
		snprintf(s->why, sizeof(s->why), "%s: %s", path,
		    strerror(errno));
		r = -1;
	}
	if (r == -1)
		unlink(path);
	return r;
}

static int
take_source(struct session *s, const char *srcdir)
{
	json_object	*h;
	const char	*name;
	int64_t		 size;
	char		*path;
	int		 r;

	h = json_tokener_parse(s->in.data);
	name = json_get_str(h, "name");
	size = json_object_get_int64(json_object_object_get(h, "size"));
	if (name == NULL || !name_is_safe(name) || strchr(name, ':') ==
	    NULL || size < 0) {
		snprintf(s->why, sizeof(s->why), "a source without a safe "
		    "checksum name or a size");
		json_object_put(h);
		return -1;
	}
	path = xasprintf("%s/%s", srcdir, name);
	r = recv_file(s, path, size);
	free(path);
	json_object_put(h);
	return r;
}

/*
 * The set-up frames until AG_RUN. Returns 1 when the connection ended
 * before AG_BEGIN, 0 ready to run, -1 with s->why.
 */
static int
setup(struct session *s, struct buf *manifest, json_object **begin,
    const char *srcdir)
{
	char	 type;
	int	 r, nsrc = 0;

	for (;;) {
		r = frame_read(s->fd, &type, &s->in, AG_STEP_MS, s->quit,
		    s->why, sizeof(s->why));
		if (r != 0)
			return *begin == NULL ? 1 : -1;
		if (*begin == NULL && type != AG_BEGIN) {
			snprintf(s->why, sizeof(s->why), "expected the "
			    "begin frame");
			return -1;
		}
		switch (type) {
		case AG_BEGIN:
			if (*begin != NULL) {
				snprintf(s->why, sizeof(s->why), "this agent "
				    "serves one build");
				return -1;
			}
			*begin = json_tokener_parse(s->in.data);
			if (*begin == NULL || !json_object_is_type(*begin,
			    json_type_object)) {
				snprintf(s->why, sizeof(s->why), "the begin "
				    "frame is not a JSON object");
				return -1;
			}
			log_info("agent: build claimed");
			break;
		case AG_MANIFEST:
			if (manifest->len + s->in.len > AG_MANIFEST_MAX) {
				snprintf(s->why, sizeof(s->why), "manifest "
				    "over %d bytes", AG_MANIFEST_MAX);
				return -1;
			}
			buf_add(manifest, s->in.data, s->in.len);
			break;
		case AG_SOURCE:
			if (take_source(s, srcdir) == -1)
				return -1;
			nsrc++;
			break;
		case AG_RUN:
			log_info("agent: %zu bytes of manifest, %d sources "
			    "from the worker", manifest->len, nsrc);
			return 0;
		default:
			snprintf(s->why, sizeof(s->why), "unexpected frame "
			    "0x%02x", (unsigned char)type);
			return -1;
		}
	}
}

static void
on_monitor(const char *d, size_t n, void *arg)
{
	struct session	*s = arg;

	(void)send_chunks(s, AG_MONITOR, d, n);
}

/* Every 100 ms of the build: beats, a cancel, a lost worker, others. */
static void
on_tick(void *arg)
{
	struct session	*s = arg;
	char		 type;
	int		 r;

	if (s->quit != NULL && atomic_load(s->quit))
		atomic_store(&s->canceled, 1);
	if (now_ms() - s->last_beat >= AG_HEARTBEAT_MS) {
		s->last_beat = now_ms();
		(void)send_frame(s, AG_HEARTBEAT, NULL, 0);
	}
	while (!s->lost && frame_wait(s->fd, 0) == 1) {
		r = frame_read(s->fd, &type, &s->in, AG_IO_MS, NULL, s->why,
		    sizeof(s->why));
		if (r != 0) {
			log_warnx("agent: the worker is gone (%s): stopping "
			    "the build", r == 1 ? "closed" : s->why);
			s->lost = 1;
			atomic_store(&s->canceled, 1);
		} else if (type == AG_CANCEL) {
			log_info("agent: the worker canceled the build");
			atomic_store(&s->canceled, 1);
		}
	}
	refuse_others(s);
}

/* Sends the regular files under dir (as prefix/...); links are skipped. */
static int
send_tree(struct session *s, const char *dir, const char *prefix, int depth)
{
	DIR		*d;
	struct dirent	*e;
	struct stat	 st;
	char		*path, *rel, *hdr, buf[65536];
	int		 fd, r = 0;
	ssize_t		 n;

	if (depth > AG_MAX_DEPTH || (d = opendir(dir)) == NULL)
		return 0;
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		rel = xasprintf("%s/%s", prefix, e->d_name);
		if (!name_is_safe(e->d_name) || lstat(path, &st) == -1)
			;
		else if (S_ISDIR(st.st_mode))
			r = send_tree(s, path, rel, depth + 1);
		else if (!S_ISREG(st.st_mode))
			log_warnx("agent: %s is not a regular file: not sent",
			    rel);
		else if ((fd = open(path, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) != -1) {
			json_object *h = json_object_new_object();

			json_object_object_add(h, "path",
			    json_object_new_string(rel));
			json_object_object_add(h, "size",
			    json_object_new_int64(st.st_size));
			hdr = xstrdup(json_object_to_json_string(h));
			json_object_put(h);
			r = send_frame(s, AG_FILE, hdr, strlen(hdr));
			free(hdr);
			while (r == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
				r = send_frame(s, AG_DATA, buf, (size_t)n);
			close(fd);
		}
		free(path);
		free(rel);
	}
	closedir(d);
	return r;
}

static void
add_arg(char ***v, size_t *n, char *a)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = a;
	(*v)[*n] = NULL;
}

int
agent_session(const struct agent_opts *o, int fd, int lfd,
    const atomic_int *quit)
{
	struct session		 s;
	struct buf		 manifest;
	struct exec_opts	 eo;
	struct exec_result	 res;
	json_object		*begin = NULL, *hello, *exps, *st;
	char			*store, *srcdir, *outdir, **av = NULL, *t;
	const char		*name;
	size_t			 nav = 0, i, n;
	int			 r = -1, ran = 0;

	memset(&s, 0, sizeof(s));
	memset(&res, 0, sizeof(res));
	s.o = o;
	s.fd = fd;
	s.lfd = lfd;
	s.quit = quit;
	buf_init(&s.in);
	buf_init(&manifest);
	store = xasprintf("%s/store", o->workdir);
	srcdir = xasprintf("%s/sources/org.osbuild.curl", store);
	outdir = xasprintf("%s/output", o->workdir);

	hello = json_object_new_object();
	json_object_object_add(hello, "agent", json_object_new_int(1));
	json_object_object_add(hello, "builder_version",
	    json_object_new_string(o->version));
	t = xstrdup(json_object_to_json_string(hello));
	json_object_put(hello);
	r = send_frame(&s, AG_HELLO, t, strlen(t));
	free(t);
	if (r == -1) {
		r = 1;
		goto cleanup;
	}
	if (mkdir_p(srcdir, 0755) == -1 || mkdir_p(outdir, 0755) == -1) {
		snprintf(s.why, sizeof(s.why), "cannot make the work "
		    "directories under %s", o->workdir);
		begin = json_object_new_object();	/* no waiting on */
		goto fail;
	}
	if ((r = setup(&s, &manifest, &begin, srcdir)) != 0) {
		if (r == 1) {
			log_info("agent: a connection left without a build");
			goto cleanup;
		}
		goto fail;
	}

	add_arg(&av, &nav, xstrdup(o->builder));
	add_arg(&av, &nav, xstrdup("--store"));
	add_arg(&av, &nav, xstrdup(store));
	add_arg(&av, &nav, xstrdup("--output-directory"));
	add_arg(&av, &nav, xstrdup(outdir));
	add_arg(&av, &nav, xasprintf("--cache-max-size=%lld", (long long)
	    json_object_get_int64(json_object_object_get(begin,
	    "cache_max_size"))));
	add_arg(&av, &nav, xstrdup("-"));
	if (!json_object_object_get_ex(begin, "exports", &exps) ||
	    !json_object_is_type(exps, json_type_array) ||
	    (n = json_object_array_length(exps)) > AG_MAX_EXPORTS) {
		snprintf(s.why, sizeof(s.why), "no list of exports, or over "
		    "%d", AG_MAX_EXPORTS);
		r = -1;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		name = json_object_get_string(json_object_array_get_idx(exps,
		    i));
		if (!json_object_is_type(json_object_array_get_idx(exps, i),
		    json_type_string) || !name_is_safe(name)) {
			snprintf(s.why, sizeof(s.why), "export %zu: not a "
			    "safe name", i);
			r = -1;
			goto fail;
		}
		add_arg(&av, &nav, xstrdup("--export"));
		add_arg(&av, &nav, xstrdup(name));
	}
	add_arg(&av, &nav, xstrdup("--monitor=JSONSeqMonitor"));
	add_arg(&av, &nav, xstrdup("--monitor-fd=3"));
	add_arg(&av, &nav, xstrdup("--json"));

	memset(&eo, 0, sizeof(eo));
	eo.argv = (const char *const *)av;
	eo.stdin_data = manifest.data;
	eo.stdin_len = manifest.len;
	eo.extra_fd = 3;
	eo.on_extra = on_monitor;
	eo.on_tick = on_tick;
	eo.arg = &s;
	eo.timeout_ms = o->build_timeout_ms;
	eo.canceled = &s.canceled;
	s.last_beat = now_ms();
	log_info("agent: starting %s", o->builder);
	if (exec_run(&eo, &res) == -1) {
		snprintf(s.why, sizeof(s.why), "%s", res.error);
		r = -1;
		goto fail;
	}
	ran = 1;
	log_info("agent: the builder ended (%s)", exec_status_str(&res,
	    s.why, sizeof(s.why)));
	if (s.lost) {
		r = -1;
		goto cleanup;
	}
	if (send_chunks(&s, AG_STDOUT, res.out.data, res.out.len) == -1 ||
	    send_chunks(&s, AG_STDERR, res.err.data, res.err.len) == -1)
		goto lost;
	st = json_object_new_object();
	json_object_object_add(st, "exited", json_object_new_int(res.exited));
	json_object_object_add(st, "code", json_object_new_int(res.code));
	json_object_object_add(st, "signaled",
	    json_object_new_int(res.signaled));
	json_object_object_add(st, "signo", json_object_new_int(res.signo));
	json_object_object_add(st, "timed_out",
	    json_object_new_int(res.timed_out));
	json_object_object_add(st, "canceled",
	    json_object_new_int(res.canceled));
	t = xstrdup(json_object_to_json_string(st));
	json_object_put(st);
	r = send_frame(&s, AG_STATUS, t, strlen(t));
	free(t);
	if (r == -1)
		goto lost;
	for (i = 0; i < n && !res.canceled; i++) {
		name = json_object_get_string(json_object_array_get_idx(exps,
		    i));
		t = xasprintf("%s/%s", outdir, name);
		r = send_tree(&s, t, name, 0);
		free(t);
		if (r == -1)
			goto lost;
	}
	if (send_frame(&s, AG_END, NULL, 0) == -1)
		goto lost;
	log_info("agent: build served");
	r = 0;
	goto cleanup;
lost:
	r = -1;
	goto cleanup;
fail:
	/* Garbage before a build was claimed: wait for the real worker. */
	r = begin == NULL ? 1 : -1;
	log_warnx("agent: %s", s.why);
	if (!s.lost)
		(void)frame_write(fd, AG_ERROR, s.why, strlen(s.why), 2000,
		    NULL, s.why, sizeof(s.why));
cleanup:
	(void)ran;
	exec_result_free(&res);
	if (av != NULL)
		for (i = 0; i < nav; i++)
			free(av[i]);
	free(av);
	json_object_put(begin);
	buf_free(&s.in);
	buf_free(&manifest);
	free(store);
	free(srcdir);
	free(outdir);
	return r;
}
