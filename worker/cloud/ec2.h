/*
 * The EC2 calls the AWS target and the aws-ec2-* jobs need, over EC2's
 * Query API (form POST, XML answers) signed by libcurl. Throttling
 * (RequestLimitExceeded, Throttling), ResourceLimitExceeded and 5xx are
 * retried with capped backoff; any other failure keeps AWS's own message.
 * The endpoint is https://ec2.REGION.amazonaws.com unless overridden
 * ([aws] endpoint: private endpoints, tests).
 */
#ifndef IB_EC2_H
#define IB_EC2_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "aws.h"

struct ec2_cfg {
	const char		*endpoint;	/* NULL: AWS for region */
	const char		*region;
	const struct aws_creds	*creds;		/* copied */
	const char		*ca_bundle;
	int			 tries;		/* throttling, 5xx; 0: 8 */
	int			 limit_tries;	/* ResourceLimitExceeded; 0: 60 */
	int64_t			 backoff_base;	/* ms, 0: 1000 */
	int64_t			 backoff_cap;	/* ms, 0: 60000 */
	const atomic_int	*abort;
};

struct ec2;

struct ec2	*ec2_new(const struct ec2_cfg *, char *err, size_t errlen);
void		 ec2_free(struct ec2 *);
/* After a failure: "Action: Code: Message", the code alone, canceled. */
const char	*ec2_error(const struct ec2 *);
const char	*ec2_error_code(const struct ec2 *);
int		 ec2_aborted(const struct ec2 *);
/* Clean-up after a cancellation runs with no abort flag. */
void		 ec2_set_abort(struct ec2 *, const atomic_int *);

/*
 * One call: params are name, value pairs ending with NULL. On success the
 * XML answer is returned (caller frees), NULL on failure.
 */
char		*ec2_call(struct ec2 *, const char *action,
		    const char *const *params, size_t *lenp);

/* ImportSnapshot from s3://bucket/key; *task newly allocated. */
int		 ec2_import_snapshot(struct ec2 *, const char *bucket,
		    const char *key, const char *format, const char *desc,
		    char **task);

struct ec2_import {
	char	*status;	/* active, completed, deleting, deleted */
	char	*message;	/* StatusMessage */
	char	*progress;
	char	*snapshot;
};
void		 ec2_import_clear(struct ec2_import *);
int		 ec2_describe_import(struct ec2 *, const char *task,
		    struct ec2_import *);

/* CreateTags on one resource: name, value pairs ending with NULL. */
int		 ec2_create_tags(struct ec2 *, const char *resource,
		    const char *const *tags);
/* RegisterImage: hvm, /dev/sda1, ENA, gp3; boot_mode may be NULL. */
int		 ec2_register_image(struct ec2 *, const char *name,
		    const char *snapshot, const char *arch,
		    const char *boot_mode, char **ami);
int		 ec2_share_snapshot(struct ec2 *, const char *snapshot,
		    const char *const *accounts);
int		 ec2_share_image(struct ec2 *, const char *ami,
		    const char *const *accounts);
/* CopyImage into this client's region. */
int		 ec2_copy_image(struct ec2 *, const char *src_region,
		    const char *src_ami, const char *name, char **ami);
/* DescribeImages: *state (pending, available, failed...) and reason. */
int		 ec2_image_state(struct ec2 *, const char *ami, char **state,
		    char **reason);
/*
 * Best-effort clean-up after a failure. EC2 refuses to delete a snapshot
 * that a registered image uses (InvalidSnapshot.InUse): deregister first.
 */
int		 ec2_deregister_image(struct ec2 *, const char *ami);
int		 ec2_delete_snapshot(struct ec2 *, const char *snapshot);

/*
 * The retention clean-up (ib-maintenance). One image of DescribeImages:
 * its id, name, creationDate (ISO 8601 as EC2 prints it), the value of the
 * tag the listing asked for (NULL when absent) and the EBS snapshots of
 * its block device mapping (NULL-terminated). All newly allocated.
 */
struct ec2_image {
	char	*id;
	char	*name;
	char	*created;
	char	*tag;
	char	**snapshots;
};
void		 ec2_images_free(struct ec2_image *, size_t);
/*
 * DescribeImages Owner=self filtered on tag_key being present, every page
 * (NextToken). *images newly allocated, *n of them (images without an id
 * are skipped).
 */
int		 ec2_own_images(struct ec2 *, const char *tag_key,
		    struct ec2_image **images, size_t *n);
/* DescribeRegions: the regions enabled for the account, NULL-terminated,
 * each a valid region name (others are skipped); caller frees them. */
int		 ec2_regions(struct ec2 *, char ***regions);

/* Checks: ids as AWS prints them, a 12-digit account. */
int		 ec2_id_ok(const char *prefix, const char *id);
int		 ec2_account_ok(const char *);

#endif
