/*
 * Journal entries as CloudWatch Logs events: the text an event carries
 * (the unit name and the MESSAGE, made valid UTF-8, cut to the event size
 * limit) and batches bounded by PutLogEvents' limits.
 */
#ifndef IB_LOGSHIP_EVENT_H
#define IB_LOGSHIP_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* PutLogEvents' documented limits. */
#define EV_OVERHEAD	26			/* bytes counted per event */
#define EV_MAX_SIZE	(256 * 1024)		/* one event, overhead included */
#define EV_BATCH_COUNT	10000
#define EV_BATCH_BYTES	1048576
#define EV_BATCH_SPAN_MS (24LL * 3600 * 1000)

struct event {
	int64_t	 ts;		/* ms since the epoch */
	char	*msg;		/* valid UTF-8, NUL-terminated */
	size_t	 len;		/* bytes of msg */
	char	*cursor;	/* the journal entry's cursor */
};

/*
 * The event text "UNIT: MESSAGE" from raw bytes (either may hold anything):
 * invalid UTF-8 becomes U+FFFD, and a text longer than an event may carry
 * is cut at a character boundary and ends with a marker. Newly allocated.
 */
char	*event_text(const char *unit, size_t unitlen, const char *msg,
	    size_t msglen, size_t *lenp);

/* Frees what ev owns and zeroes it; accepts NULL. */
void	 event_clear(struct event *);

struct batch {
	struct event	*ev;
	size_t		 n;
	size_t		 bytes;		/* sum of len + EV_OVERHEAD */
};

void	 batch_init(struct batch *);
/*
 * Adds ev (taking what it owns) when it fits PutLogEvents' limits: count,
 * bytes, and the 24 h span. A timestamp older than the previous one is
 * raised to it: the journal's order is kept and CloudWatch wants them
 * chronological. Returns 0, or -1 (ev untouched) when it does not fit.
 */
int	 batch_add(struct batch *, struct event *);
/* Drops the first n events. */
void	 batch_drop(struct batch *, size_t n);
void	 batch_free(struct batch *);

/* Appends s as a JSON string (quotes included) to b. */
struct buf;
void	 json_str(struct buf *, const char *s, size_t len);

#endif
