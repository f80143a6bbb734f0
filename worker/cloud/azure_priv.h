/*
 * The Azure client's state, shared by its files (azure.c: the client,
 * AAD and ARM; azure_blob.c: the blob service). Not for other modules.
 */
#ifndef IB_AZURE_PRIV_H
#define IB_AZURE_PRIV_H

#include <stdatomic.h>
#include <stdint.h>

#include "azure.h"
#include "cloud.h"
#include "http.h"
#include "http_multi.h"

#define BODY_MAX	(64 * 1024)	/* error answers of the blob service */

struct azure {
	struct http		*http;
	char			*login_url;
	char			*arm_url;
	char			*tenant;
	char			*sub;
	struct azure_creds	 creds;
	struct cloud_client	 cl;
	/* the storage account in use */
	char			*account;
	char			*key;		/* secret, base64 */
	char			*origin;	/* scheme://host[:port] */
	char			*prefix;	/* path before the container */
	long			 connect_timeout;
	int			 threads;
	int64_t			 poll_ms;
	int64_t			 op_timeout;
	struct azure_stats	 stats;
	struct http_progress	 progress;	/* fn NULL: none */
};

/* The cloud's message of a failed answer into az->err (arg: the client). */
void	 azure_set_error(void *arg, const char *what,
	    const struct http_resp *);

#endif
