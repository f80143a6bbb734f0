/*
 * frame: see frame.h. Sockets stay blocking; poll() gives every step its
 * deadline in slices of 100 ms so that an abort is seen soon.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"

#define FRAME_SLICE_MS	100

/* Waits for events on fd until the deadline: 1 ready, -1 with why. */
static int
wait_for(int fd, short events, int64_t deadline, const atomic_int *abort,
    char *why, size_t len)
{
	struct pollfd	 p;
	int64_t		 left;
	int		 r;

	for (;;) {
		if (abort != NULL && atomic_load(abort)) {
			snprintf(why, len, "aborted");
			return -1;
		}
		left = deadline - now_ms();
		if (left <= 0) {
			snprintf(why, len, "timed out");
			return -1;
		}
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, left < FRAME_SLICE_MS ? (int)left :
		    FRAME_SLICE_MS);
		if (r == -1 && errno != EINTR) {
			snprintf(why, len, "poll: %s", strerror(errno));
			return -1;
		}
		if (r > 0)
			return 1;
	}
}

static int
send_all(int fd, const void *data, size_t len, int64_t deadline,
    const atomic_int *abort, char *why, size_t whylen)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		if (wait_for(fd, POLLOUT, deadline, abort, why, whylen) == -1)
			return -1;
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(why, whylen, "send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes; 1 when the stream ended before the first. */
static int
recv_all(int fd, void *data, size_t len, int64_t deadline,
    const atomic_int *abort, char *why, size_t whylen)
{
	char	*p = data;
	size_t	 got = 0;
	ssize_t	 n;

	while (got < len) {
		if (wait_for(fd, POLLIN, deadline, abort, why, whylen) == -1)
			return -1;
		n = recv(fd, p + got, len - got, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(why, whylen, "recv: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			if (got == 0)
				return 1;
			snprintf(why, whylen, "the peer closed the connection "
			    "inside a frame");
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int
frame_write(int fd, char type, const void *data, size_t len,
    long timeout_ms, const atomic_int *abort, char *why, size_t whylen)
{
	unsigned char	 h[5];
	int64_t		 deadline = now_ms() + timeout_ms;

	if (len > FRAME_MAX) {
		snprintf(why, whylen, "frame of %zu bytes over %d", len,
		    FRAME_MAX);
		return -1;
	}
	h[0] = (unsigned char)type;
	h[1] = (unsigned char)(len >> 24);
	h[2] = (unsigned char)(len >> 16);
	h[3] = (unsigned char)(len >> 8);
	h[4] = (unsigned char)len;
	if (send_all(fd, h, sizeof(h), deadline, abort, why, whylen) == -1)
		return -1;
	if (len > 0 && send_all(fd, data, len, deadline, abort, why,
	    whylen) == -1)
		return -1;
	return 0;
}

int
frame_read(int fd, char *type, struct buf *payload, long timeout_ms,
    const atomic_int *abort, char *why, size_t whylen)
{
	unsigned char	 h[5];
	int64_t		 deadline = now_ms() + timeout_ms;
	size_t		 len;
	int		 r;

	buf_reset(payload);
	if ((r = recv_all(fd, h, sizeof(h), deadline, abort, why,
	    whylen)) != 0)
		return r;
	len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 |
	    (size_t)h[4];
	if (len > FRAME_MAX) {
		snprintf(why, whylen, "frame of %zu bytes over %d", len,
		    FRAME_MAX);
		return -1;
	}
	*type = (char)h[0];
	if (len == 0)
		return 0;
	if (payload->cap < len + 1) {
		payload->data = xrealloc(payload->data, len + 1);
		payload->cap = len + 1;
	}
	if ((r = recv_all(fd, payload->data, len, deadline, abort, why,
	    whylen)) != 0) {
		if (r == 1)
			snprintf(why, whylen, "the peer closed the "
			    "connection inside a frame");
		return -1;
	}
	payload->len = len;
	payload->data[len] = '\0';
	return 0;
}

int
frame_wait(int fd, long ms)
{
	struct pollfd	 p;
	int		 r;

	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	r = poll(&p, 1, (int)ms);
	if (r == -1)
		return errno == EINTR ? 0 : -1;
	return r > 0;
}

int
frame_connect(const char *host, const char *port, long timeout_ms,
    char *why, size_t whylen)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	int64_t		 deadline = now_ms() + timeout_ms;
	int		 fd = -1, r, err;
	socklen_t	 elen;
	char		 w[128];

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, whylen, "%s: %s", host, gai_strerror(r));
		return -1;
	}
	snprintf(why, whylen, "%s port %s: no address", host, port);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_for(fd, POLLOUT, deadline,
		    NULL, w, sizeof(w)) == 1) {
			elen = sizeof(err);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
			    &elen) == 0 && err == 0)
				break;
			snprintf(why, whylen, "%s port %s: %s", host, port,
			    strerror(err));
		} else if (errno == EINPROGRESS)
			snprintf(why, whylen, "%s port %s: connect %s", host,
			    port, w);
		else
			snprintf(why, whylen, "%s port %s: %s", host, port,
			    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd != -1) {
		/* Blocking again: every step polls with its own deadline. */
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	}
	return fd;
}
