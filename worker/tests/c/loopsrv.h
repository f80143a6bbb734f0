/*
 * A one-connection-at-a-time HTTP server on 127.0.0.1 for C unit tests:
 * it reads a request until the test says it holds enough, writes the
 * answer the test makes for it, then reads what is left and closes (a
 * close with unread data would reset the connection under the answer).
 */
#ifndef IB_LOOPSRV_H
#define IB_LOOPSRV_H

#include <pthread.h>
#include <stddef.h>

struct loopsrv {
	/* Set by the test before loopsrv_start. */
	/* 1 when req (len bytes, NUL-terminated) is enough to answer. */
	int		(*complete)(const char *req, size_t len);
	/* The answer to req: *ans (the test's memory) of *anslen bytes;
	 * *anslen 0: none, the connection is closed. */
	void		(*answer)(void *arg, const char *req, size_t len,
			    const char **ans, size_t *anslen);
	void		*arg;
	/* Set by loopsrv_start. */
	int		 fd;
	int		 port;
	pthread_t	 thread;
};

/* 1 once req holds the end of the headers. */
int	loopsrv_headers_read(const char *req, size_t len);
/* Listens on a free loopback port and serves on a thread; 0 or -1. */
int	loopsrv_start(struct loopsrv *);
/* Ends the accept loop and joins the thread. */
void	loopsrv_stop(struct loopsrv *);
/* A loopback port nothing listens on (bound, then released). */
int	loopsrv_free_port(void);

#endif
