/*
 * systemd's notification protocol without libsystemd: READY, STATUS,
 * STOPPING and the watchdog, sent to $NOTIFY_SOCKET when it is set. The
 * names are ours (ib_), not libsystemd's, so that nothing linked with
 * libsystemd can take one for the other.
 */
#ifndef IB_SDNOTIFY_H
#define IB_SDNOTIFY_H

#include <stdint.h>

/*
 * Sends one "KEY=value\n..." message; a no-op outside systemd. The format
 * and its arguments are the worker's own: text from outside goes through
 * ib_sd_status.
 */
void	 ib_sd_notifyf(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
/*
 * Sends "STATUS=text": the formatted text cut to SD_STATUS_MAX bytes, each
 * control byte (a newline would start another assignment) as '?'. Never
 * blocks: dropped when the manager's queue is full.
 */
#define SD_STATUS_MAX	200
void	 ib_sd_status(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
/* The watchdog period in ms from $WATCHDOG_USEC (for this PID), or 0. */
int64_t	 ib_sd_watchdog_ms(void);

#endif
