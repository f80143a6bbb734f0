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
 * One call to a cloud's JSON API, as both clients make it: with the
 * bearer token when token is set (login first gets one when it is stale;
 * a 401 drops it and logs in once more), retried with backoff and
 * Retry-After on the answers cloud_retryable() names, up to tries times.
 */
struct cloud_call {
	const char		*name;		/* "gcp", "azure": log lines */
	const char		*what;		/* the errors' prefix */
	struct http		*http;
	struct cloud_token	*token;		/* NULL: no authentication */
	int			(*login)(void *arg);
	/* Says why an answer failed, into the client's error. */
	void			(*set_error)(void *arg, const char *what,
				    const struct http_resp *);
	void			*arg;
	int			 tries;
	int64_t			 backoff_cap;	/* ms */
	long			 ok_also;	/* a status taken as success */
	const atomic_int	*abort;
	int			*aborted;	/* set when abort stopped it */
	int			*retries;	/* counted up per retry */
	char			*err;		/* the client's error */
	size_t			 errlen;
};

/*
 * Performs req (its bearer and abort are set here). 0 when the final
 * answer is 2xx or ok_also; -1 with cc->err otherwise. resp keeps the
 * last answer.
 */
int	 cloud_do(const struct cloud_call *cc, struct http_req *req,
	    struct http_resp *resp);

/* 1 for no answer, 408, 429 and the 5xx a retry can cure. */
int	 cloud_retryable(long status);
/* At most max bytes of s into dst, control characters as spaces. */
void	 cloud_clean_copy(char *dst, size_t dstlen, const char *s,
	    size_t max);
/* The environment variable when set and not empty (tests), else dflt. */
const char *cloud_env_or(const char *name, const char *dflt);

#endif
