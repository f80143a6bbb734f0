/*
 * A cloud upload as the operator and the composer see it, the same as the
 * build's progress: a log line every TPROG_LOG_MS with bytes, total,
 * percent and rate; STATUS= "uploading NAME: x%"; and, when the server
 * takes partial updates, the composer's progress at most every
 * TPROG_PARTIAL_MS (one window with the build's updates when the job
 * shares it, target_ctx.last_partial), a newer one held and sent once its
 * window ends, also while a transfer runs (on a composer handle of its
 * own then). A phase the cloud measures in percent (EC2's snapshot
 * import) follows on the same window: "importing NAME: x%".
 */
#ifndef IB_TARGETS_PROGRESS_H
#define IB_TARGETS_PROGRESS_H

#include <stdint.h>

#include "http_multi.h"
#include "targets.h"

#define TPROG_LOG_MS		10000
#define TPROG_PARTIAL_MS	5000
#define TPROG_STATUS_MS		1000	/* the manager's queue is short */

struct target_progress {
	const struct target_ctx	*ctx;
	const char		*target;	/* a literal: the target kind */
	const char		*verb;		/* a literal: "uploading" */
	int			 percent;	/* done/total are a percentage */
	char			 name[128];	/* printable copy of the object */
	int64_t			 start, last_log, last_status;
	int64_t			 own_partial;	/* unless the job keeps one */
	int64_t			*last_partial;
	int64_t			 done, total;
	int			 pct;		/* of the last STATUS=, -1 none */
	int			 log_pct;	/* of the last percent line */
	int			 held;		/* the server is behind */
	struct http_progress	 hook;		/* for the cloud client */
};

/*
 * Follows an upload of name (borrowed; copied printable and bounded) for
 * the target kind (a literal). Returns the hook to hand to the cloud
 * client's *_set_progress(); it points into p.
 */
const struct http_progress *target_progress_start(struct target_progress *p,
	    const struct target_ctx *, const char *target, const char *name);
/* The upload is over: a held update goes out now. */
void	target_progress_end(struct target_progress *p);
/*
 * After the upload, a phase of p's name the cloud reports in percent,
 * called verb (a literal, "importing"): its updates keep p's window.
 */
void	target_progress_phase(struct target_progress *p, const char *verb);
/* How far that phase is, 0..100 (clamped); between requests only. */
void	target_progress_percent(struct target_progress *p, int pct);

#endif
