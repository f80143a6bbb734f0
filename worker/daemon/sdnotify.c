/*
 * sd_notify over a datagram socket: the message is small and the protocol
 * stable, so a dependency on libsystemd buys nothing.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdnotify.h"
#include "util.h"

/* flags: MSG_DONTWAIT for what may be dropped rather than wait for. */
static void
send_msg(const char *msg, int flags)
{
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	socklen_t		 len;
	int			 fd;

	if (path == NULL || *path == '\0' ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')	/* abstract namespace */
		sun.sun_path[0] = '\0';
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | flags,
	    (struct sockaddr *)&sun, len);
	close(fd);
}

void
ib_sd_notifyf(const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	send_msg(msg, 0);
	free(msg);
}

void
ib_sd_status(const char *fmt, ...)
{
	va_list		 ap;
	char		 msg[sizeof("STATUS=") + SD_STATUS_MAX];
	unsigned char	*p;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	memcpy(msg, "STATUS=", 7);
	va_start(ap, fmt);
	(void)vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	for (p = (unsigned char *)msg + 7; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	/* A build sends one per stage: when the manager's queue is full the
	 * status is dropped, the build does not wait for it. */
	send_msg(msg, MSG_DONTWAIT);
}

int64_t
ib_sd_watchdog_ms(void)
{
	const char	*usec = getenv("WATCHDOG_USEC");
	const char	*pid = getenv("WATCHDOG_PID");
	long long	 v;

	if (usec == NULL || (pid != NULL && atol(pid) != (long)getpid()))
		return 0;
	v = atoll(usec);
	return v > 0 ? v / 1000 : 0;
}
