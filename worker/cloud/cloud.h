/*
 * What the bearer-token cloud clients (azure.c, gcp.c) share: the OAuth2
 * access token they cache, which answers deserve another try and how long
 * to wait before it, and printable excerpts of a cloud's messages.
 */
#ifndef IB_CLOUD_H
#define IB_CLOUD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct cloud_token {
	char	*value;		/* secret */
	int64_t	 exp;		/* now_ms() / 1000 when it runs out */
};

/* 1 when a token is held that stays valid for another minute. */
int	 cloud_token_fresh(const struct cloud_token *);
/* Drops the token (zeroed). */
void	 cloud_token_clear(struct cloud_token *);
/*
 * Takes access_token and expires_in (1 h when absent) from a token
 * endpoint's JSON answer, then zeroes the answer's body, which held the
 * token. -1 when there is no usable token (missing, empty, control
 * characters, longer than 16 KiB); the body is zeroed either way.
 */
int	 cloud_token_take(struct cloud_token *, struct http_resp *);

/*
 * The bearer-token client GCP and Azure both are: the token they hold, how
 * they log in and word errors, how they retry, their abort flag and their
 * last error. Each embeds one, set up once; every call of theirs goes
 * through cloud_do().
 */
struct cloud_client {
	const char		*name;		/* "gcp", "azure": log lines */
	struct http		*http;
	struct cloud_token	 token;
	/* Gets a token when the held one is stale (cloud_login()). */
	int			(*login)(void *arg);
	/* Says why an answer failed, into err. */
	void			(*set_error)(void *arg, const char *what,
				    const struct http_resp *);
	void			*arg;
	int			 tries;
	int64_t			 backoff_cap;	/* ms */
	long			 ok_also;	/* a status taken as success */
	const atomic_int	*abort;
	int			 aborted;	/* set when abort stopped it */
	int			*retries;	/* counted up per retry */
	char			 err[1024];	/* the client's error */
};

/*
 * Performs req (its bearer and abort are set here): with the token when
 * auth (logging in first when it is stale; a 401 drops it and logs in once
 * more), retried with backoff and Retry-After on the answers
 * cloud_retryable() names, up to tries times (0: the client's). 0 when the
 * final answer is 2xx or ok_also; -1 with "what: why" in the client's err
 * otherwise. resp keeps the last answer.
 */
int	 cloud_do(struct cloud_client *, const char *what, int auth,
	    int tries, struct http_req *req, struct http_resp *resp);
/*
 * An OAuth2 grant: unless a fresh token is held, POSTs form (secret) to
 * url and takes the token from the answer. 0, or -1 with err.
 */
int	 cloud_login(struct cloud_client *, const char *what, const char *url,
	    const char *form);
/* Sleeps ms unless abort comes first: then -1, "canceled" and aborted. */
int	 cloud_sleep(struct cloud_client *, int64_t ms);
/*
 * The pause between two polls of a long operation that must be done by
 * deadline (now_ms()): sleeps wait ms and counts a poll in *polls. -1 with
 * "what: not done after TIMEOUT s" in err when the deadline would pass
 * first, or as cloud_sleep() when canceled.
 */
int	 cloud_poll_pause(struct cloud_client *, const char *what,
	    int64_t deadline, int64_t timeout, int64_t wait, int *polls);
/* Drops the token. */
void	 cloud_client_clear(struct cloud_client *);

/*
 * The mark of the images this fleet makes, which ib-maintenance deletes
 * past the retention and nothing else: a GCE image label and an Azure
 * image tag. (AWS: the Name tag equal to the image's name, which the
 * reference's AMIs carry too.) A valid GCE label key and value.
 */
#define CLOUD_FLEET_KEY		"ib-fleet"
#define CLOUD_FLEET_VALUE	"image-builder"
/* Azure images carry no creation time: the fleet's say it in this tag
 * (UTC, "2026-12-03T17:52:06Z"). */
#define CLOUD_CREATED_KEY	"ib-created"

/* 1 for no answer, 408, 429 and the 5xx a retry can cure. */
int	 cloud_retryable(long status);
/* At most max bytes of s into dst, control characters as spaces. */
void	 cloud_clean_copy(char *dst, size_t dstlen, const char *s,
	    size_t max);
/* The environment variable when set and not empty (tests), else dflt. */
const char *cloud_env_or(const char *name, const char *dflt);

#endif
