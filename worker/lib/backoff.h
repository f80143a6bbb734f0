/*
 * Capped exponential backoff with full jitter, for every retry loop: the
 * composer being down, 5xx answers, throttled cloud calls.
 */
#ifndef IB_BACKOFF_H
#define IB_BACKOFF_H

#include <stdint.h>

struct backoff {
	int64_t		 base_ms;
	int64_t		 cap_ms;
	unsigned int	 attempt;
	unsigned int	 seed;
};

void	 backoff_init(struct backoff *, int64_t base_ms, int64_t cap_ms);
/* The delay before the next try: uniform in [base/2, min(cap, base*2^n)]. */
int64_t	 backoff_next(struct backoff *);
void	 backoff_reset(struct backoff *);

#endif
