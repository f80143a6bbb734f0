/*
 * What the target files share: filling a target_err, the characters of
 * names that become paths, and the S3 object
 * naming and upload tuning that org.osbuild.aws reuses from
 * org.osbuild.aws.s3 (both defined in s3.c).
 */
#ifndef IB_TARGETS_COMMON_H
#define IB_TARGETS_COMMON_H

#include <json-c/json.h>

#include "config.h"
#include "s3.h"
#include "targets.h"

/* Sets err's id and reason (printf-style) and returns -1. */
int	target_fail(struct target_err *err, int id, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * 1 when every byte of s is an ASCII letter or digit or one of "._/-":
 * what a blob name or a repository path may hold here.
 */
int	target_path_chars_ok(const char *s);

/*
 * KEY-EXPORTFILENAME for the target's export (key may be NULL: a random
 * one); *out newly allocated. -1 with err filled for unsafe names.
 */
int	target_s3_key(json_object *target, const char *key, char **out,
	    struct target_err *err);
/* [aws] s3_part_size and s3_parallel into an s3_cfg. */
void	target_s3_tuning(struct s3_cfg *, const struct config *);

#endif
