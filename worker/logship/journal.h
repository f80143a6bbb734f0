/*
 * The journal side: opens the system journal (or, for tests, the journal
 * files of one directory), positions after the saved cursor or at the
 * start of the current boot, and yields the entries of the worker units
 * (names starting with "ib-") as events.
 */
#ifndef IB_LOGSHIP_JOURNAL_H
#define IB_LOGSHIP_JOURNAL_H

#include <stdint.h>

struct event;
struct jr;

/*
 * dir NULL: the system journal. skip_unit: a unit whose lines are never
 * shipped (the shipper's own, which would otherwise feed itself).
 * NULL with a message logged.
 */
struct jr	*jr_open(const char *dir, const char *skip_unit);
void		 jr_close(struct jr *);
/*
 * Positions after cursor (NULL: at the first entry of the current boot,
 * or at the end when this boot has none yet). A cursor the journal no
 * longer knows is logged and the boot's start used instead. 0 or -1.
 */
int		 jr_seek(struct jr *, const char *cursor);
/*
 * The next event of a worker unit: 1 and ev filled (the caller clears
 * it), 0 when there is none yet, -1 on a journal error.
 */
int		 jr_next(struct jr *, struct event *ev);
/* The cursor of the last entry read, shipped or not (NULL: none). */
const char	*jr_cursor(const struct jr *);
/* Waits up to ms for the journal to change. */
void		 jr_wait(struct jr *, int ms);

#endif
