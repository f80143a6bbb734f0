/* The unit tests' loopback HTTP server. See loopsrv.h. */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>

#include <string.h>
#include <unistd.h>

#include "loopsrv.h"

#define LOOPSRV_REQ	8192

int
loopsrv_headers_read(const char *req, size_t len)
{
	return strstr(req, "\r\n\r\n") != NULL;
}

static void *
serve(void *p)
{
	struct loopsrv	*s = p;
	struct timeval	 tv = { 5, 0 };
	char		 req[LOOPSRV_REQ];
	const char	*ans;
	size_t		 got, anslen;
	ssize_t		 n;
	int		 c;

	while ((c = accept(s->fd, NULL, NULL)) != -1) {
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		got = 0;
		req[0] = '\0';
		while (got < sizeof(req) - 1 &&
		    (n = read(c, req + got, sizeof(req) - 1 - got)) > 0) {
			got += n;
			req[got] = '\0';
			if (s->complete(req, got))
				break;
		}
		ans = NULL;
		anslen = 0;
		s->answer(s->arg, req, got, &ans, &anslen);
		if (anslen > 0 && write(c, ans, anslen) == -1)
			anslen = 0;
		shutdown(c, SHUT_WR);
		while (read(c, req, sizeof(req)) > 0)
			;
		close(c);
	}
	return NULL;
}

static int
listen_loopback(int *port, int backlog)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    (backlog > 0 && listen(fd, backlog) == -1) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

int
loopsrv_start(struct loopsrv *s)
{
	if ((s->fd = listen_loopback(&s->port, 8)) == -1)
		return -1;
	if (pthread_create(&s->thread, NULL, serve, s) != 0) {
		close(s->fd);
		return -1;
	}
	return 0;
}

void
loopsrv_stop(struct loopsrv *s)
{
	/* On Linux, shutting a listening socket down ends the accept. */
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

int
loopsrv_free_port(void)
{
	int	 fd, port = -1;

	if ((fd = listen_loopback(&port, 0)) == -1)
		return -1;
	close(fd);
	return port;
}
