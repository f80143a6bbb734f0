/*
 * Many requests at once: a pool of easy handles on one curl multi handle,
 * each slot working through items the caller hands out (S3's multipart
 * parts, Azure's pages). A slot retries its own item with capped backoff
 * (and the answer's Retry-After when asked); abort stops the whole run.
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

struct http_multi_cfg {
	int			 parallel;	/* slots, at least 1 */
	int64_t			 backoff_base;	/* ms */
	int64_t			 backoff_cap;	/* ms */
	int			 retry_after;	/* honour Retry-After */
	const atomic_int	*abort;		/* when set, all stops */
};

struct http_multi_stats {
	int	 max_inflight;
	int	 retries;
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
