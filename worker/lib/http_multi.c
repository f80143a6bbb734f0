/*
 * The pool behind http_multi_run(): one curl multi handle, one easy handle
 * per slot, each request set up and read back by http_xfer (the same code
 * as http_do), so caps, callbacks and abort behave as for one request.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "backoff.h"
#include "http.h"
#include "http_multi.h"
#include "http_xfer.h"
#include "log.h"
#include "util.h"

struct slot {
	CURL			*easy;
	void			*item;		/* NULL: free */
	int			 running;
	int			 tries;
	int64_t			 not_before;	/* ms, a retry's time */
	int64_t			 sent;		/* body bytes of this attempt */
	struct backoff		 bo;
	struct http_call	 call;
	struct http_xfer	 x;
	struct http_resp	 resp;
};

char *
http_call_own(struct http_call *c, char *s)
{
	if (c->nown >= HTTP_CALL_OWN)
		fatalx("http_call_own: more than %d strings", HTTP_CALL_OWN);
	c->own[c->nown++] = s;
	return s;
}

void
http_call_clear(struct http_call *c)
{
	int	 i;

	for (i = 0; i < c->nown; i++)
		freezero_str(c->own[i]);
	memset(c, 0, sizeof(*c));
}

/* The attempt's body going out (libcurl's progress callback). */
static void
slot_sent(void *arg, int64_t sent, int64_t total)
{
	struct slot	*s = arg;

	(void)total;
	s->sent = sent;
}

/* Builds and starts an attempt at the slot's item; -1 when setup failed. */
static int
slot_start(struct http *h, CURLM *m, const struct http_multi_ops *ops,
    void *arg, struct slot *s)
{
	if (s->easy == NULL && (s->easy = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	http_call_clear(&s->call);
	ops->build(arg, s->item, &s->call);
	s->tries++;
	s->sent = 0;
	if (s->call.req.on_upload == NULL) {
		s->call.req.on_upload = slot_sent;
		s->call.req.upload_arg = s;
	}
	if (http_xfer_setup(h, s->easy, &s->call.req, &s->resp, &s->x) == -1)
		return -1;
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_multi_add_handle(m, s->easy);
	s->running = 1;
	return 0;
}

/* Ends an attempt: the answer into s->resp, then the caller's verdict. */
static enum http_verdict
slot_end(const struct http_multi_cfg *cfg, const struct http_multi_ops *ops,
    void *arg, struct slot *s, CURLcode cc, struct http_multi_stats *st,
    int *aborted)
{
	enum http_verdict	 v;
	int64_t			 wait, dflt;
	curl_off_t		 up = 0;
	char			*ra;

	/* The exact count: the last progress call may predate the end. */
	if (cc == CURLE_OK &&
	    curl_easy_getinfo(s->easy, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK)
		s->sent = up;
	http_xfer_finish(&s->x, s->easy, cc, &s->resp);
	http_call_clear(&s->call);
	s->running = 0;
	if (s->resp.aborted) {
		*aborted = 1;
		return HTTP_FAIL;
	}
	v = ops->judge(arg, s->item, &s->resp, s->tries);
	if (v == HTTP_DONE) {
		s->item = NULL;
		st->sent += s->sent;
	} else if (v == HTTP_RETRY) {
		st->retries++;
		wait = dflt = backoff_next(&s->bo);
		if (cfg->retry_after && (ra = http_resp_header(&s->resp,
		    "Retry-After")) != NULL) {
			free(ra);
			wait = http_retry_after(&s->resp, dflt,
			    cfg->backoff_cap);
			st->retry_after++;
		}
		st->backoff_ms += wait;
		s->not_before = now_ms() + wait;
	}
	s->sent = 0;
	return v;
}

/*
 * Tells the caller the bytes sent so far when they changed, and once a
 * second anyway: a stalled upload still lets it act on time (a held
 * progress update).
 */
static void
report_sent(const struct http_multi_cfg *cfg, void *arg,
    const struct slot *slots, int n, int64_t done, int64_t *told,
    int64_t *told_at)
{
	int64_t	 t = now_ms();
	int	 i;

	if (cfg->on_sent == NULL)
		return;
	for (i = 0; i < n; i++)
		done += slots[i].sent;
	if (done != *told || t - *told_at >= 1000) {
		*told_at = t;
		cfg->on_sent(arg, *told = done);
	}
}

int
http_multi_run(struct http *h, const struct http_multi_cfg *cfg,
    const struct http_multi_ops *ops, void *arg,
    struct http_multi_stats *st, int *aborted)
{
	struct slot	*slots, *s;
	CURLM		*m;
	CURLMsg		*msg;
	int		 n = cfg->parallel > 0 ? cfg->parallel : 1;
	int		 i, more = 1, inflight, waiting, running, left, rv = -1;
	int64_t		 t, base = st->sent, told = -1, told_at = 0;

	*aborted = 0;
	slots = xcalloc(n, sizeof(*slots));
	for (i = 0; i < n; i++)
		http_resp_init(&slots[i].resp);
	if ((m = curl_multi_init()) == NULL)
		fatalx("curl_multi_init failed");
	for (;;) {
		if (cfg->abort != NULL && *cfg->abort) {
			*aborted = 1;
			goto cleanup;
		}
		t = now_ms();
		inflight = waiting = 0;
		for (i = 0; i < n; i++) {
			s = &slots[i];
			if (s->item == NULL && more) {
				switch (ops->next(arg, i, &s->item)) {
				case -1:
					goto cleanup;
				case 0:
					more = 0;
					s->item = NULL;
					break;
				default:
					s->tries = 0;
					s->not_before = 0;
					backoff_init(&s->bo, cfg->backoff_base,
					    cfg->backoff_cap);
				}
			}
			if (s->item != NULL && !s->running &&
			    s->not_before <= t &&
			    slot_start(h, m, ops, arg, s) == -1 &&
			    slot_end(cfg, ops, arg, s, CURLE_FAILED_INIT, st,
			    aborted) == HTTP_FAIL)
				goto cleanup;
			if (s->running)
				inflight++;
			else if (s->item != NULL)
				waiting++;
		}
		if (!more && inflight == 0 && waiting == 0)
			break;
		if (inflight > st->max_inflight)
			st->max_inflight = inflight;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&s);
			curl_multi_remove_handle(m, s->easy);
			if (slot_end(cfg, ops, arg, s, msg->data.result, st,
			    aborted) == HTTP_FAIL)
				goto cleanup;
		}
		report_sent(cfg, arg, slots, n, st->sent - base, &told,
		    &told_at);
		curl_multi_poll(m, NULL, 0, inflight ? 100 : 10, NULL);
	}
	report_sent(cfg, arg, slots, n, st->sent - base, &told, &told_at);
	rv = 0;
cleanup:
	for (i = 0; i < n; i++) {
		s = &slots[i];
		if (s->running) {
			curl_multi_remove_handle(m, s->easy);
			http_xfer_finish(&s->x, s->easy,
			    CURLE_ABORTED_BY_CALLBACK, &s->resp);
		}
		http_call_clear(&s->call);
		if (s->easy != NULL)
			curl_easy_cleanup(s->easy);
		http_resp_free(&s->resp);
	}
	curl_multi_cleanup(m);
	free(slots);
	return rv;
}
