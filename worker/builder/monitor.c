/*
 * The JSONSeqMonitor stream: RFC 7464 records (0x1e, JSON, newline) with
 * the message, the pipeline and stage it concerns and the progress, as
 * osbuild writes them to --monitor-fd. Lost records are not an error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/build.h"

static int			 mon_fd = -1;
static const struct pipeline	*mon_p;
static const struct stage	*mon_s;
static int			 mon_done, mon_total;
static char			 mon_sub[256];
static int			 mon_sub_done, mon_sub_total;

void
monitor_open(int fd)
{
	mon_fd = fd;
}

void
monitor_close(void)
{
	if (mon_fd > 2)
		close(mon_fd);
	mon_fd = -1;
}

void
monitor_context(const struct pipeline *p, const struct stage *s)
{
	mon_p = p;
	mon_s = s;
}

void
monitor_progress(int done, int total)
{
	mon_done = done;
	mon_total = total;
	mon_sub[0] = '\0';
}

void
monitor_subprogress(const char *name, int done, int total)
{
	snprintf(mon_sub, sizeof(mon_sub), "%s", name);
	mon_sub_done = done;
	mon_sub_total = total;
}

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
emit(const char *message, json_object *result, double duration)
{
	json_object	*rec, *ctx, *pipe, *stage, *prog, *sub;
	const char	*text;
	struct buf	 b;

	if (mon_fd < 0) {
		json_object_put(result);	/* ours to free, shown or not */
		return;
	}
	rec = json_object_new_object();
	json_object_object_add(rec, "message",
	    json_object_new_string(message));
	ctx = json_object_new_object();
	json_object_object_add(ctx, "origin",
	    json_object_new_string("osbuild.monitor"));
	if (mon_p != NULL) {
		pipe = json_object_new_object();
		json_object_object_add(pipe, "name",
		    json_object_new_string(mon_p->name));
		json_object_object_add(pipe, "id", mon_p->id[0] ?
		    json_object_new_string(mon_p->id) : NULL);
		stage = json_object_new_object();
		if (mon_s != NULL) {
			json_object_object_add(stage, "name",
			    json_object_new_string(mon_s->type));
			json_object_object_add(stage, "id",
			    json_object_new_string(mon_s->id));
		}
		json_object_object_add(pipe, "stage", stage);
		json_object_object_add(ctx, "pipeline", pipe);
	}
	json_object_object_add(rec, "context", ctx);
	prog = json_object_new_object();
	json_object_object_add(prog, "name",
	    json_object_new_string("pipelines/sources"));
	json_object_object_add(prog, "total", json_object_new_int(mon_total));
	json_object_object_add(prog, "done", json_object_new_int(mon_done));
	if (mon_sub[0] != '\0') {
		sub = json_object_new_object();
		json_object_object_add(sub, "name",
		    json_object_new_string(mon_sub));
		json_object_object_add(sub, "total",
		    json_object_new_int(mon_sub_total));
		json_object_object_add(sub, "done",
		    json_object_new_int(mon_sub_done));
		json_object_object_add(prog, "progress", sub);
	}
	json_object_object_add(rec, "progress", prog);
	if (result != NULL)
		json_object_object_add(rec, "result", result);
	if (duration >= 0)
		json_object_object_add(rec, "duration",
		    json_object_new_double(duration));
	json_object_object_add(rec, "timestamp",
	    json_object_new_double(now_s()));
	text = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	buf_init(&b);
	buf_addstr(&b, "\x1e");
	buf_addstr(&b, text);
	buf_addstr(&b, "\n");
	(void)write_all(mon_fd, b.data, b.len);	/* a gone reader is no error */
	buf_free(&b);
	json_object_put(rec);
}

void
monitor_log(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	emit(s, NULL, -1);
	free(s);
}

void
monitor_result(const struct stage *s, int success, const char *output,
    double duration)
{
	json_object	*r;
	char		*msg;
	size_t		 len = strlen(output);

	/* Long outputs are cut as osbuild cuts them in this stream. */
	if (len > 31000)
		output += len - 31000;
	r = json_object_new_object();
	json_object_object_add(r, "name", json_object_new_string(s->type));
	json_object_object_add(r, "id", json_object_new_string(s->id));
	json_object_object_add(r, "success",
	    json_object_new_boolean(success));
	json_object_object_add(r, "output", json_object_new_string(output));
	msg = xasprintf("Finished module %s", s->type);
	emit(msg, r, duration);
	free(msg);
}
