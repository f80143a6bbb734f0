/*
 * Backoff delays. Jitter keeps a fleet of workers from retrying in step
 * against a composer that just came back.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"

void
backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms)
{
	b->base_ms = base_ms > 0 ? base_ms : 1;
	b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
	b->attempt = 0;
	b->seed = (unsigned int)time(NULL) ^ (unsigned int)getpid() ^
	    (unsigned int)(uintptr_t)b;
}

int64_t
backoff_next(struct backoff *b)
{
	int64_t		 hi = b->base_ms, lo;
	unsigned int	 i;

	for (i = 0; i < b->attempt && hi < b->cap_ms; i++)
		hi = hi > b->cap_ms / 2 ? b->cap_ms : hi * 2;
	if (hi > b->cap_ms)
		hi = b->cap_ms;
	if (b->attempt < 64)
		b->attempt++;
	lo = b->base_ms / 2;
	if (hi <= lo)
		return hi;
	return lo + (int64_t)(rand_r(&b->seed) % (hi - lo + 1));
}

void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
