/*
 * One accepted job: parsing the document the composer handed us, and the
 * result helpers every job kind uses. The heartbeat that runs beside a job
 * lives in watch.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "util.h"

/* The composer's ids and paths are short; anything longer is hostile. */
#define JOB_FIELD_MAX	1024

static int
get_string(json_object *doc, const char *key, int required, char **out,
    char *err, size_t errlen)
{
	json_object	*v;

	*out = NULL;
	if (!json_object_object_get_ex(doc, key, &v) || v == NULL) {
		if (!required)
			return 0;
		snprintf(err, errlen, "job has no \"%s\"", key);
		return -1;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "job \"%s\" is not a string", key);
		return -1;
	}
	if (json_object_get_string_len(v) == 0 && required) {
		snprintf(err, errlen, "job \"%s\" is empty", key);
		return -1;
	}
	if (json_object_get_string_len(v) > JOB_FIELD_MAX ||
	    strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v)) {
		snprintf(err, errlen, "job \"%s\" is malformed", key);
		return -1;
	}
	*out = xstrdup(json_object_get_string(v));
	return 0;
}

/* A location must be a plain path: it is appended to the server URL. */
static int
path_ok(const char *p)
{
	const unsigned char *s;

	size_t		 n;

	if (p == NULL || p[0] != '/' || strstr(p, "/../") != NULL ||
	    strstr(p, "/./") != NULL)
		return 0;
	/* A dot segment at the end is resolved by curl just the same. */
	n = strlen(p);
	if ((n >= 3 && strcmp(p + n - 3, "/..") == 0) ||
	    (n >= 2 && strcmp(p + n - 2, "/.") == 0))
		return 0;
	for (s = (const unsigned char *)p; *s; s++)
		if (*s <= 0x20 || *s == 0x7f || *s == '?' || *s == '#' ||
		    *s == '\\')
			return 0;
	return 1;
}

struct job *
job_parse(json_object *doc, char *err, size_t errlen)
{
	struct job	*j;
	json_object	*v;
	char		 why[256];

	j = xcalloc(1, sizeof(*j));
	atomic_init(&j->canceled, 0);
	atomic_init(&j->pgid, 0);
	atomic_init(&j->done, 0);
	if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "job is not a JSON object");
		goto fail;
	}
	if (get_string(doc, "location", 1, &j->location, err, errlen) == -1)
		goto fail;
	if (!path_ok(j->location)) {
		snprintf(err, errlen, "job location is not a plain path");
		goto fail;
	}
	j->doc = doc;
	/* From here on the server can be told what is wrong. */
	why[0] = '\0';
	if (get_string(doc, "id", 1, &j->id, why, sizeof(why)) == -1)
		j->id = xstrdup("(no id)");
	if (why[0] == '\0')
		(void)get_string(doc, "type", 1, &j->type, why, sizeof(why));
	if (j->type == NULL)
		j->type = xstrdup("(no type)");
	if (why[0] == '\0')
		(void)get_string(doc, "artifact_location", 0,
		    &j->artifact_location, why, sizeof(why));
	if (why[0] == '\0' && j->artifact_location != NULL &&
	    !path_ok(j->artifact_location))
		snprintf(why, sizeof(why), "job artifact_location is not a "
		    "plain path");
	if (j->artifact_location == NULL ||
	    !path_ok(j->artifact_location)) {
		free(j->artifact_location);
		j->artifact_location = xasprintf("%s/artifacts/", j->location);
	}
	if (!json_object_object_get_ex(doc, "args", &v) || v == NULL ||
	    !json_object_is_type(v, json_type_object)) {
		if (why[0] == '\0' && v != NULL)
			snprintf(why, sizeof(why), "job args are not an "
			    "object");
		j->args = json_object_new_object();
		json_object_object_add(doc, "args", j->args);
	} else
		j->args = v;
	if (json_object_object_get_ex(doc, "dynamic_args", &v) && v != NULL) {
		if (json_object_is_type(v, json_type_array))
			j->dynamic_args = v;
		else if (why[0] == '\0')
			snprintf(why, sizeof(why), "job dynamic_args are not "
			    "an array");
	}
	if (why[0] != '\0')
		j->invalid = xstrdup(why);
	return j;
fail:
	/* The caller still owns doc when parsing fails. */
	job_free(j);
	return NULL;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->id);
	free(j->type);
	free(j->location);
	free(j->artifact_location);
	free(j->invalid);
	json_object_put(j->doc);
	free(j);
}

int
job_canceled(const struct job *j)
{
	return atomic_load(&j->canceled);
}

static json_object *
error_object(int id, const char *reason, json_object *details)
{
	json_object	*e = json_object_new_object();

	json_object_object_add(e, "id", json_object_new_int(id));
	json_object_object_add(e, "reason",
	    json_object_new_string(reason ? reason : ""));
	if (details != NULL)
		json_object_object_add(e, "details", details);
	return e;
}

json_object *
job_error_result(int id, const char *reason, json_object *details)
{
	json_object	*r = json_object_new_object();

	json_object_object_add(r, "job_error",
	    error_object(id, reason, details));
	return r;
}

void
job_set_error(json_object *result, int id, const char *reason,
    json_object *details)
{
	json_object_object_add(result, "job_error",
	    error_object(id, reason, details));
}

json_object *
job_result_error(json_object *result)
{
	json_object	*e;

	if (result == NULL || !json_object_is_type(result, json_type_object) ||
	    !json_object_object_get_ex(result, "job_error", &e) ||
	    e == NULL || !json_object_is_type(e, json_type_object))
		return NULL;
	return e;
}

const char *
job_string(json_object *v)
{
	const char	*s;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}
