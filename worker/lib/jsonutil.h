/*
 * The member getters every module that reads a job, a target or a
 * cloud's answer needs, so that each reads JSON the same careful way.
 */
#ifndef IB_JSONUTIL_H
#define IB_JSONUTIL_H

#include <stdint.h>

#include <json-c/json.h>

/*
 * The string member key of o, borrowed from o; NULL when o is NULL or not
 * an object, the member is missing or not a string, or the string holds
 * a NUL (a name could hide its tail behind one).
 */
const char	*json_get_str(json_object *o, const char *key);
/*
 * When the member key of o is a boolean: sets *out and returns 1; else
 * leaves *out as it was and returns 0.
 */
int		 json_get_bool(json_object *o, const char *key, int *out);
/*
 * The array member key of o, borrowed from o; NULL when o is NULL or not
 * an object, or the member is missing or not an array.
 */
json_object	*json_get_arr(json_object *o, const char *key);
/*
 * When the member key of o is an integer, or a double with no fraction
 * within int64_t: sets *out and returns 1; else leaves *out and returns 0.
 */
int		 json_get_int(json_object *o, const char *key, int64_t *out);
/* Adds from's string member fromkey to `to` as tokey unless it is absent
 * or empty. */
void		 json_copy_str(json_object *to, const char *tokey,
		    json_object *from, const char *fromkey);

/*
 * Zeroes the string member key of o in place when it is a string (a token
 * or a key json-c parsed out of an answer), before o is put.
 */
void		 json_wipe_str(json_object *o, const char *key);

#endif
