/*
 * CloudWatch Logs over its JSON protocol (X-Amz-Target Logs_20140328.*,
 * application/x-amz-json-1.1), signed with SigV4 by libcurl through
 * http_do(): CreateLogStream and PutLogEvents, with every answer sorted
 * into what the shipper should do next.
 */
#ifndef IB_LOGSHIP_CWL_H
#define IB_LOGSHIP_CWL_H

#include <stddef.h>

struct aws_creds;
struct event;
struct http;

enum cwl_rc {
	CWL_OK,		/* accepted (or already accepted) */
	CWL_RETRY,	/* throttled, 5xx, no answer: again after a pause */
	CWL_AUTH,	/* credentials refused or not allowed: slowly again */
	CWL_NO_STREAM,	/* the stream is gone: create it again */
	CWL_NO_GROUP,	/* the log group does not exist: slowly again */
	CWL_REFUSED	/* this request will never be accepted as it is */
};

struct cwl {
	struct http	*h;
	const char	*url;		/* the endpoint */
	const char	*region;
	const char	*group;
	const char	*stream;
};

/*
 * CreateLogStream; an existing stream is CWL_OK. why gets the reason of
 * anything else (AWS's error code and message, never a secret).
 */
enum cwl_rc	 cwl_create_stream(const struct cwl *, const struct aws_creds *,
		    long timeout, char *why, size_t whylen);
/* PutLogEvents of n events (within the batch limits, chronological). */
enum cwl_rc	 cwl_put(const struct cwl *, const struct aws_creds *,
		    const struct event *, size_t n, long timeout, char *why,
		    size_t whylen);

/* 1 when s may be a log group name (1-512 of [A-Za-z0-9._/#-]). */
int		 cwl_group_ok(const char *);
/* 1 when s may be a log stream name (1-512 printable, no ':' or '*'). */
int		 cwl_stream_ok(const char *);

#endif
