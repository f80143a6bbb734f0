/*
 * Upload progress of the cloud targets (progress.h). The cloud clients
 * call in with safe set only outside libcurl's callbacks. The composer's
 * partial update is a request of its own: outside a callback it goes out
 * on the job's composer handle; inside one (a single PUT, a GCS chunk, the
 * artifact's own PUT to the composer) on a handle made for that one update,
 * as libcurl refuses re-entry only into the handle whose callback runs.
 * Such an update holds the transfer for as long as it takes, at most
 * TPROG_INSIDE_S: a composer that does not answer must not stall the
 * upload, and an update older than its window says little.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "log.h"
#include "sdnotify.h"
#include "targets/progress.h"
#include "util.h"

#define TPROG_INSIDE_S	5	/* s for an update from inside a transfer */

/*
 * Sends where the upload is to the composer; a refusal is logged. safe:
 * outside every libcurl callback, so the job's handle is free.
 */
static void
partial_put(struct target_progress *p, int safe)
{
	json_object	*partial, *prog;
	struct api	*api;
	char		 msg[256];

	snprintf(msg, sizeof(msg), "%s %s to %s", p->verb, p->name, p->target);
	prog = json_object_new_object();
	json_object_object_add(prog, "message", json_object_new_string(msg));
	json_object_object_add(prog, "done", json_object_new_int64(p->done));
	json_object_object_add(prog, "total", json_object_new_int64(p->total));
	partial = json_object_new_object();
	json_object_object_add(partial, "progress", prog);
	*p->last_partial = now_ms();
	p->held = 0;
	if (safe)
		api = p->ctx->api;
	else {
		api = api_clone(p->ctx->api);
		api_set_abort(api, p->ctx->abort);
		api_set_timeout(api, TPROG_INSIDE_S);
	}
	if (api_update_partial(api, p->ctx->job_location, partial) != API_OK)
		log_warnx("%s: progress update not taken: %s", p->target,
		    api_error(api));
	if (!safe)
		api_free(api);
	json_object_put(partial);
}

static void
on_progress(void *arg, int64_t done, int64_t total, int safe)
{
	struct target_progress	*p = arg;
	struct log_num		 nums[] = { { "bytes", 0 }, { NULL, 0 } };
	int64_t			 now = now_ms();
	int			 pct;

	if (done != p->done || total != p->total)
		p->held = 1;
	p->done = done;
	p->total = total;
	pct = total > 0 ? (int)(done * 100 / total) : 0;
	if (p->percent && pct != p->log_pct) {
		p->log_pct = pct;
		log_info("%s: %s %s: %d%%", p->target, p->verb, p->name, pct);
	} else if (!p->percent && now - p->last_log >= TPROG_LOG_MS) {
		p->last_log = now;
		nums[0].value = done;
		log_info_n(nums, "%s: %s: %lld of %lld bytes (%d%%), %.1f MB/s",
		    p->target, p->name, (long long)done, (long long)total, pct,
		    done / 1e6 / ((now - p->start + 1) / 1000.0));
	}
	if (pct != p->pct && (now - p->last_status >= TPROG_STATUS_MS ||
	    pct == 100)) {
		p->pct = pct;
		p->last_status = now;
		ib_sd_status("%s %s: %d%%", p->verb, p->name, pct);
	}
	if (!p->ctx->partial || p->ctx->api == NULL ||
	    p->ctx->job_location == NULL)
		p->held = 0;
	else if (p->held && now - *p->last_partial >= TPROG_PARTIAL_MS)
		partial_put(p, safe);
}

const struct http_progress *
target_progress_start(struct target_progress *p, const struct target_ctx *ctx,
    const char *target, const char *name)
{
	size_t	 i;

	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	p->target = target;
	p->verb = "uploading";
	for (i = 0; name[i] != '\0' && i < sizeof(p->name) - 1; i++)
		p->name[i] = name[i] > ' ' && name[i] < 0x7f ? name[i] : '?';
	p->name[i] = '\0';
	p->start = p->last_log = now_ms();
	p->done = p->total = -1;
	p->pct = p->log_pct = -1;
	p->last_partial = ctx->last_partial != NULL ? ctx->last_partial :
	    &p->own_partial;
	p->hook.fn = on_progress;
	p->hook.arg = p;
	return &p->hook;
}

void
target_progress_phase(struct target_progress *p, const char *verb)
{
	p->verb = verb;
	p->percent = 1;
	p->done = p->total = -1;
	p->pct = p->log_pct = -1;
	p->held = 0;
	p->start = p->last_log = now_ms();
}

void
target_progress_percent(struct target_progress *p, int pct)
{
	on_progress(p, pct < 0 ? 0 : pct > 100 ? 100 : pct, 100, 1);
}

void
target_progress_end(struct target_progress *p)
{
	if (p->held && p->ctx->partial && p->ctx->api != NULL &&
	    p->ctx->job_location != NULL)
		partial_put(p, 1);
}
