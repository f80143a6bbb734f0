/*
 * The EC2 instance metadata service, IMDSv2 only: a session token from a
 * PUT, then GETs that carry it. The one client of it: the credentials
 * chain (aws.c), the region and instance id (logship, backlog), and the
 * Auto Scaling watcher.
 */
#ifndef IB_AWS_IMDS_H
#define IB_AWS_IMDS_H

#include <stddef.h>

struct http;

/* The endpoint: IB_IMDS_ENDPOINT (tests), else AWS's. */
const char *aws_imds_base(void);
/*
 * A session token (a PUT, 6 h long); secret, the caller frees it with
 * freezero_str. NULL with why in err.
 */
char	*aws_imds_token(struct http *, char *err, size_t errlen);
/*
 * GETs /latest/meta-data/<path> with the session token (secret). 0 with
 * *out set (newly allocated, trailing white space cut); -1 otherwise, with
 * *status the answer's (0 when none came: why in err). 401 means the
 * session ran out, 404 that the path does not exist. Answers longer than
 * 16 KiB fail; the answer's memory is zeroed (it may hold credentials).
 */
int	 aws_imds_get(struct http *, const char *token, const char *path,
	    char **out, long *status, char *err, size_t errlen);
/* The instance's region, checked; newly allocated, or NULL with err. */
char	*aws_imds_region(struct http *, char *err, size_t errlen);
/* The instance id ("i-..."), checked; newly allocated, or NULL with err. */
char	*aws_imds_instance_id(struct http *, char *err, size_t errlen);

#endif
