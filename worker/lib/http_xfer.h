/*
 * One request set up on a libcurl easy handle, and the answer read back:
 * what http_do() performs on the handle of a struct http, and what
 * http_multi.c runs on each handle of its pool. Private to lib/.
 */
#ifndef IB_HTTP_XFER_H
#define IB_HTTP_XFER_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "http.h"

struct http_xfer {
	struct http_resp	*resp;
	size_t			 max_body;
	FILE			*out;
	const char		*out_path;
	int64_t			 out_len;
	int64_t			 max_out;
	void			(*on_out)(void *, const void *, size_t);
	void			*out_arg;
	int			 in_fd;
	off_t			 in_off;
	off_t			 in_left;
	const atomic_int	*abort;
	struct curl_slist	*hdrs;		/* may hold secrets */
	int			 too_big;
	int			 answered;	/* a status line arrived */
	int			 keep_answer;
	void			(*on_upload)(void *, int64_t, int64_t);
	void			*upload_arg;
	int			 failed;	/* setup failed, resp->error */
	char			 errbuf[CURL_ERROR_SIZE];
};

/*
 * Sets up c (reset first) for req with the settings of h, the answer to go
 * to resp; x must stay in place until http_xfer_finish(). -1 when the
 * request cannot start (a body file that cannot be read: resp->error);
 * http_xfer_finish() must be called either way.
 */
int	 http_xfer_setup(struct http *h, CURL *c, const struct http_req *,
	    struct http_resp *resp, struct http_xfer *x);
/*
 * Reads the outcome cc of the transfer on c into resp and releases what
 * x holds (headers, files), dropping the credentials from c. 0 when an
 * answer arrived, -1 otherwise (resp->error, resp->aborted).
 */
int	 http_xfer_finish(struct http_xfer *x, CURL *c, CURLcode cc,
	    struct http_resp *resp);

#endif
