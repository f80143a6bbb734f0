/*
 * Many requests at once: a pool of easy handles on one curl multi handle,
 * each slot working through items the caller hands out (S3's multipart
 * parts, Azure's pages). A slot retries its own item with capped backoff
 * (and the answer's Retry-After when asked); abort stops the whole run.
 * The caller hears how many body bytes went out (on_sent) and how often
 * and how long slots waited to retry (the stats).
 * Requests are built by the caller per attempt, as http_req (http.h).
 */
#ifndef IB_HTTP_MULTI_H
#define IB_HTTP_MULTI_H

#include <stdatomic.h>
#include <stdint.h>

#include "http.h"

#define HTTP_CALL_HDRS	16
#define HTTP_CALL_OWN	24

/* One attempt's request, as the caller builds it. */
struct http_call {
	struct http_req	 req;
	const char	*hdr[HTTP_CALL_HDRS + 1];	/* for req.headers */
	char		*own[HTTP_CALL_OWN];
	int		 nown;
};

/*
 * Hands s (allocated) to the call, which zeroes and frees it when the
 * attempt ends; returns s. For URLs and header lines holding secrets.
 */
char	*http_call_own(struct http_call *, char *s);
/* Frees what the call owns and clears it. */
void	 http_call_clear(struct http_call *);

enum http_verdict {
	HTTP_DONE,	/* the item is done, the slot takes the next */
	HTTP_RETRY,	/* try the item again after a backoff */
	HTTP_FAIL	/* stop the run */
};

struct http_multi_ops {
	/*
	 * The next item for slot (0 .. parallel - 1): 1 with *item set, 0
	 * when none is left, -1 on the caller's own error (the run stops).
	 * Slot storage the caller keeps per slot stays the item's until it
	 * is done.
	 */
	int	 (*next)(void *arg, int slot, void **item);
	/* Fills call for one attempt at item (anew each time: signatures
	 * carry the time). */
	void	 (*build)(void *arg, void *item, struct http_call *call);
	/*
	 * Judges an attempt's answer (status 0 and resp->error when none
	 * came); tries counts the attempts at item so far. Says why into the
	 * caller's error on HTTP_RETRY and HTTP_FAIL.
	 */
	enum http_verdict (*judge)(void *arg, void *item,
	    const struct http_resp *resp, int tries);
};

/*
 * Where an upload says how far it is: done bytes of total, as they move.
 * safe is 1 when the caller is outside every libcurl callback, so that fn
 * may make requests of its own (libcurl must not be called recursively);
 * 0 from within a transfer's progress callback.
 */
struct http_progress {
	void	(*fn)(void *arg, int64_t done, int64_t total, int safe);
	void	*arg;
};

struct http_multi_cfg {
	int			 parallel;	/* slots, at least 1 */
	int64_t			 backoff_base;	/* ms */
	int64_t			 backoff_cap;	/* ms */
	int			 retry_after;	/* honour Retry-After */
	const atomic_int	*abort;		/* when set, all stops */
	/*
	 * Called from the run's loop (never from within libcurl) when the
	 * bytes sent of the items' bodies changed, and at least once a
	 * second while the run lasts: items done count whole,
	 * running ones as far as they got, a retried attempt from zero.
	 * NULL: not told.
	 */
	void			(*on_sent)(void *arg, int64_t sent);
};

struct http_multi_stats {
	int	 max_inflight;
	int	 retries;		/* attempts judged HTTP_RETRY */
	int	 retry_after;		/* of which waited as Retry-After asked */
	int64_t	 backoff_ms;		/* time the retries waited */
	int64_t	 sent;			/* body bytes of the items done */
};

/*
 * Runs items until none is left. 0 when every item is done; -1 when judge
 * said HTTP_FAIL, next() failed, or abort stopped it (*aborted set, 1).
 * stats are added to.
 */
int	 http_multi_run(struct http *, const struct http_multi_cfg *,
	    const struct http_multi_ops *, void *arg,
	    struct http_multi_stats *, int *aborted);

#endif
