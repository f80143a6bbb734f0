/*
 * agent_client: see agent_client.h. One connection per build; every step
 * has a deadline, the job's cancel flag is honoured at each, and what the
 * agent sends (paths of exports, sizes, JSON) is checked before use: an
 * agent runs next to a manifest's code and is not trusted with our paths.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "executor/agent_client.h"
#include "frame.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define AGC_CONNECT_MS		5000
#define AGC_HELLO_MS		10000
#define AGC_RETRY_MS		1000
#define AGC_OUT_MAX		(64 << 20)	/* builder stdout kept */
#define AGC_ERR_MAX		(64 << 10)	/* builder stderr tail kept */
#define AGC_CANCEL_MS		30000	/* after a cancel, for the agent */
#define AGC_DEPTH_MAX		16
#define AGC_READ_CHUNK		(1 << 20)

struct conn {
	int				 fd;
	const struct agent_limits	*lim;
	const struct executor_build	*b;
	struct executor_result		*r;
	struct buf			 in;
	char				 why[256];
};

static void
fail(struct conn *c, const char *what)
{
	snprintf(c->r->res.error, sizeof(c->r->res.error), "agent: %.60s%s%.180s",
	    what, c->why[0] ? ": " : "", c->why);
}

/* Connects and takes the hello, retrying until the agent answers. */
static int
reach(struct conn *c, const char *host, const char *port)
{
	int64_t	 deadline = now_ms() + c->lim->reach_ms;
	char	 type;
	int	 tries = 0;

	for (;;) {
		if (atomic_load(c->b->canceled)) {
			snprintf(c->why, sizeof(c->why), "canceled");
			return -1;
		}
		if (c->lim->gone != NULL && c->lim->gone(c->lim->gone_arg)) {
			snprintf(c->why, sizeof(c->why), "the build "
			    "environment is gone");
			return -1;
		}
		tries++;
		c->fd = frame_connect(host, port, AGC_CONNECT_MS, c->why,
		    sizeof(c->why));
		if (c->fd != -1) {
			if (frame_read(c->fd, &type, &c->in, AGC_HELLO_MS,
			    c->b->canceled, c->why, sizeof(c->why)) == 0) {
				if (type == AGC_HELLO)
					break;
				if (type == AGC_ERROR) {
					snprintf(c->why, sizeof(c->why),
					    "refused: %.200s", c->in.data);
					return -1;
				}
			}
			close(c->fd);
			c->fd = -1;
		}
		if (now_ms() + AGC_RETRY_MS > deadline) {
			char w[256];

			snprintf(w, sizeof(w), "not reachable in %ld s (%d "
			    "tries; last: %.150s)", c->lim->reach_ms / 1000, tries,
			    c->why);
			snprintf(c->why, sizeof(c->why), "%s", w);
			return -1;
		}
		sleep_abortable(AGC_RETRY_MS, c->b->canceled);
	}
	{
		json_object	*h = json_tokener_parse(c->in.data);
		const char	*v = json_get_str(h, "builder_version");

		if (v != NULL && text_is_printable(v, 128))
			c->r->version = xstrdup(v);
		json_object_put(h);
	}
	log_info("executor: the agent at %s port %s answered after %d "
	    "tries", host, port, tries);
	return 0;
}

static int
put(struct conn *c, char type, const void *d, size_t n)
{
	return frame_write(c->fd, type, d, n, c->lim->step_ms,
	    c->b->canceled, c->why, sizeof(c->why));
}

static int
put_json(struct conn *c, char type, json_object *o)
{
	const char	*t = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN);

	return put(c, type, t, strlen(t));
}

/* The sources the store has; the agent's builder fetches the others. */
static int
send_sources(struct conn *c, int *sent)
{
	const char *const	*s;
	json_object		*h;
	struct stat		 st;
	char			*path, *data = NULL;
	ssize_t			 n;
	int			 fd, r = 0;

	*sent = 0;
	if (c->b->sources == NULL || c->b->store == NULL)
		return 0;
	data = xmalloc(AGC_READ_CHUNK);
	for (s = c->b->sources; r == 0 && *s != NULL; s++) {
		if (!name_is_safe(*s))
			continue;
		path = xasprintf("%s/sources/org.osbuild.curl/%s",
		    c->b->store, *s);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		free(path);
		if (fd == -1)
			continue;
		if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		h = json_object_new_object();
		json_object_object_add(h, "name", json_object_new_string(*s));
		json_object_object_add(h, "size",
		    json_object_new_int64(st.st_size));
		r = put_json(c, AGC_SOURCE, h);
		json_object_put(h);
		while (r == 0 && (n = read(fd, data, AGC_READ_CHUNK)) > 0)
			r = put(c, AGC_DATA, data, (size_t)n);
		close(fd);
		(*sent)++;
	}
	free(data);
	return r;
}

/*
 * The path of an export file the agent names: EXPORT/..., one of ours,
 * every component safe. Makes the directories. NULL when refused.
 */
static char *
export_path(struct conn *c, const char *rel)
{
	const char *const	*e;
	char			*copy, *comp, *save = NULL, *path;
	size_t			 depth = 0;
	int			 ok = 0;
	struct stat		 st;

	if (rel == NULL || strlen(rel) > 4096)
		return NULL;
	for (e = c->b->exports; *e != NULL; e++)
		if (strncmp(rel, *e, strlen(*e)) == 0 &&
		    rel[strlen(*e)] == '/')
			ok = 1;
	if (!ok)
		return NULL;
	copy = xstrdup(rel);
	path = xstrdup(c->b->outdir);
	for (comp = strtok_r(copy, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		char *next;

		if (!name_is_safe(comp) || ++depth > AGC_DEPTH_MAX)
			goto bad;
		next = xasprintf("%s/%s", path, comp);
		free(path);
		path = next;
		/* Every component but the last is a directory we make. */
		if (save != NULL && *save != '\0') {
			if (mkdir(path, 0755) == -1 && errno != EEXIST)
				goto bad;
			if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode))
				goto bad;
		}
	}
	if (depth < 2)
		goto bad;
	free(copy);
	return path;
bad:
	free(copy);
	free(path);
	return NULL;
}

/* An export file: the header in c->in, then its data frames. */
static int
take_file(struct conn *c)
{
	json_object	*h = json_tokener_parse(c->in.data);
	const char	*rel = json_get_str(h, "path");
	int64_t		 size = json_object_get_int64(
	    json_object_object_get(h, "size"));
	char		*path, type;
	int		 fd = -1, r = -1;

	if ((path = export_path(c, rel)) == NULL || size < 0) {
		snprintf(c->why, sizeof(c->why), "an export path that is not "
		    "one of ours or not safe");
		goto cleanup;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1) {
		snprintf(c->why, sizeof(c->why), "%s: %s", path,
		    strerror(errno));
		goto cleanup;
	}
	while (size > 0) {
		if (frame_read(c->fd, &type, &c->in, c->lim->step_ms,
		    c->b->canceled, c->why, sizeof(c->why)) != 0)
			goto cleanup;
		if (type != AGC_DATA || (int64_t)c->in.len > size) {
			snprintf(c->why, sizeof(c->why), "an export's data is "
			    "not what its header said");
			goto cleanup;
		}
		if (write_all(fd, c->in.data, c->in.len) == -1) {
			snprintf(c->why, sizeof(c->why), "%s: %s", path,
			    strerror(errno));
			goto cleanup;
		}
		size -= (int64_t)c->in.len;
	}
	r = 0;
cleanup:
	if (fd != -1 && close(fd) == -1 && r == 0) {
		snprintf(c->why, sizeof(c->why), "%s: %s", path,
		    strerror(errno));
		r = -1;
	}
	free(path);
	json_object_put(h);
	return r;
}

static void
take_status(struct conn *c)
{
	json_object		*s = json_tokener_parse(c->in.data);
	struct exec_result	*res = &c->r->res;
	int64_t			 v[6] = { 0, 0, 0, 0, 0, 0 };

	json_get_int(s, "exited", &v[0]);
	json_get_int(s, "code", &v[1]);
	json_get_int(s, "signaled", &v[2]);
	json_get_int(s, "signo", &v[3]);
	json_get_int(s, "timed_out", &v[4]);
	json_get_int(s, "canceled", &v[5]);
	res->exited = v[0] != 0;
	res->code = (int)(v[1] & 0xff);
	res->signaled = v[2] != 0;
	res->signo = (int)(v[3] & 0x7f);
	res->timed_out = v[4] != 0;
	res->canceled = v[5] != 0;
	if (res->exited)
		res->status = (res->code & 0xff) << 8;
	else if (res->signaled)
		res->status = res->signo & 0x7f;
	json_object_put(s);
}

/* The build: frames until AGC_END. */
static int
follow(struct conn *c)
{
	struct exec_result	*res = &c->r->res;
	int64_t			 last = now_ms(), canceled_at = 0;
	int			 status = 0, w;
	char			 type;

	for (;;) {
		if (atomic_load(c->b->canceled) && canceled_at == 0) {
			canceled_at = now_ms();
			log_info("executor: canceling the build in the VM");
			/* Not put(): the raised flag would abort it. */
			if (frame_write(c->fd, AGC_CANCEL, NULL, 0,
			    c->lim->step_ms, NULL, c->why,
			    sizeof(c->why)) == -1)
				log_warnx("executor: cancel not sent: %s",
				    c->why);
		}
		if (canceled_at != 0 && now_ms() - canceled_at >
		    c->b->grace_ms + AGC_CANCEL_MS) {
			res->canceled = 1;
			return 0;	/* the VM goes anyway */
		}
		if (c->b->on_tick != NULL)
			c->b->on_tick(c->b->arg);
		if (now_ms() - last > c->lim->silence_ms) {
			snprintf(c->why, sizeof(c->why), "no word in %ld s",
			    c->lim->silence_ms / 1000);
			return -1;
		}
		if ((w = frame_wait(c->fd, 100)) <= 0) {
			if (w == -1) {
				snprintf(c->why, sizeof(c->why), "poll: %s",
				    strerror(errno));
				return -1;
			}
			continue;
		}
		/* An abort in a frame would cut it: the cancel is a frame. */
		w = frame_read(c->fd, &type, &c->in, c->lim->step_ms, NULL,
		    c->why, sizeof(c->why));
		if (w != 0) {
			if (w == 1)
				snprintf(c->why, sizeof(c->why), "the "
				    "connection closed");
			if (canceled_at != 0) {
				res->canceled = 1;
				return 0;
			}
			return -1;
		}
		last = now_ms();
		switch (type) {
		case AGC_MONITOR:
			if (c->b->on_monitor != NULL)
				c->b->on_monitor(c->in.data, c->in.len,
				    c->b->arg);
			break;
		case AGC_HEARTBEAT:
			break;
		case AGC_STDOUT:
			if (res->out.len + c->in.len <= AGC_OUT_MAX)
				buf_add(&res->out, c->in.data, c->in.len);
			else
				res->stdout_truncated = 1;
			break;
		case AGC_STDERR:
			buf_add(&res->err, c->in.data, c->in.len);
			if (res->err.len > AGC_ERR_MAX) {
				size_t cut = res->err.len - AGC_ERR_MAX;

				memmove(res->err.data, res->err.data + cut,
				    AGC_ERR_MAX);
				res->err.len = AGC_ERR_MAX;
				res->err.data[res->err.len] = '\0';
			}
			break;
		case AGC_STATUS:
			take_status(c);
			status = 1;
			break;
		case AGC_FILE:
			if (take_file(c) == -1)
				return -1;
			break;
		case AGC_END:
			if (!status) {
				snprintf(c->why, sizeof(c->why), "the end "
				    "before the builder's status");
				return -1;
			}
			if (canceled_at != 0)
				res->canceled = 1;
			return 0;
		case AGC_ERROR:
			snprintf(c->why, sizeof(c->why), "%.200s",
			    text_is_printable(c->in.data, 200) ? c->in.data :
			    "(unprintable)");
			return -1;
		default:
			snprintf(c->why, sizeof(c->why), "unexpected frame "
			    "0x%02x", (unsigned char)type);
			return -1;
		}
	}
}

int
agent_client_build(const char *host, const char *port,
    const struct agent_limits *lim, const struct executor_build *b,
    struct executor_result *r)
{
	struct conn		 c;
	const char *const	*e;
	json_object		*begin, *ex;
	size_t			 off, n;
	int			 rc = -1, nsrc = 0;
	int64_t			 t0 = now_ms();

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.lim = lim;
	c.b = b;
	c.r = r;
	buf_init(&c.in);
	if (reach(&c, host, port) == -1) {
		fail(&c, "not reached");
		goto cleanup;
	}
	begin = json_object_new_object();
	ex = json_object_new_array();
	for (e = b->exports; *e != NULL; e++)
		json_object_array_add(ex, json_object_new_string(*e));
	json_object_object_add(begin, "exports", ex);
	json_object_object_add(begin, "cache_max_size",
	    json_object_new_int64(b->cache_max));
	rc = put_json(&c, AGC_BEGIN, begin);
	json_object_put(begin);
	for (off = 0; rc == 0 && off < b->manifest_len; off += n) {
		n = b->manifest_len - off;
		if (n > FRAME_MAX)
			n = FRAME_MAX;
		rc = put(&c, AGC_MANIFEST, b->manifest + off, n);
	}
	if (rc == 0)
		rc = send_sources(&c, &nsrc);
	if (rc == 0)
		rc = put(&c, AGC_RUN, NULL, 0);
	if (rc == -1) {
		fail(&c, "the build was not sent");
		goto cleanup;
	}
	log_info("executor: build sent (%zu bytes of manifest, %d sources "
	    "from the cache) in %lld ms", b->manifest_len, nsrc,
	    (long long)(now_ms() - t0));
	if ((rc = follow(&c)) == -1)
		fail(&c, "the build was lost");
cleanup:
	if (c.fd != -1)
		close(c.fd);
	buf_free(&c.in);
	return rc;
}
