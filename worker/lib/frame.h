/*
 * frame: typed, length-prefixed messages on a stream socket: one type
 * byte, four bytes of payload length (big-endian), the payload. The
 * executors of the worker and ib-agent speak it; every read and write has
 * a deadline and gives up when an abort flag rises.
 */
#ifndef IB_FRAME_H
#define IB_FRAME_H

#include <stdatomic.h>
#include <stddef.h>

#include "util.h"

#define FRAME_MAX	(1 << 20)	/* payload bytes of one frame */

/*
 * Writes one frame. Returns 0, or -1 with why (peer gone, timeout, abort).
 */
int	 frame_write(int fd, char type, const void *data, size_t len,
	    long timeout_ms, const atomic_int *abort, char *why, size_t);
/*
 * Reads one frame: its type into *type, its payload into payload (reset
 * first, NUL-terminated). Returns 0, 1 on a clean end of stream before a
 * frame, or -1 with why (cut frame, over FRAME_MAX, timeout, abort).
 */
int	 frame_read(int fd, char *type, struct buf *payload, long timeout_ms,
	    const atomic_int *abort, char *why, size_t);
/* Waits at most ms for fd to be readable: 1 readable, 0 not, -1 error. */
int	 frame_wait(int fd, long ms);

/*
 * Connects to host:port (numeric or a name) within timeout_ms. Returns
 * the socket or -1 with why.
 */
int	 frame_connect(const char *host, const char *port, long timeout_ms,
	    char *why, size_t);

#endif
