/*
 * What a manifest's references point at: pipelines by name ("name:X"),
 * curl sources by checksum, and the references of a stage's inputs, both
 * as osbuild normalises them for ids and, at run time, as the tree or
 * file a stage reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "jsonutil.h"

const char *
manifest_source_url(const struct manifest *m, const char *sum)
{
	json_object	*item;

	if (m->curl == NULL || !json_object_object_get_ex(m->curl, sum, &item))
		return NULL;
	if (json_object_is_type(item, json_type_string))
		return json_object_get_string(item);
	return json_get_str(item, "url");
}

int
manifest_find(const struct manifest *m, const char *name)
{
	size_t	 i;

	for (i = 0; i < m->np; i++)
		if (m->p[i].name != NULL && strcmp(m->p[i].name, name) == 0)
			return (int)i;
	return -1;
}

int
manifest_ref(const struct manifest *m, const char *ref)
{
	if (ref == NULL || strncmp(ref, "name:", 5) != 0)
		return -1;
	return manifest_find(m, ref + 5);
}

/*
 * The references of an input as osbuild normalises them: a dict of
 * reference -> options; pipeline names resolved to ids (built pipelines
 * only: pi is the index of the current pipeline). New reference.
 */
json_object *
input_refs(const struct manifest *m, json_object *input, int resolve)
{
	json_object	*refs, *r, *o, *v;
	size_t		 i, n;

	r = json_object_new_object();
	if (!json_object_object_get_ex(input, "references", &refs))
		return r;
	if (json_object_is_type(refs, json_type_array)) {
		n = json_object_array_length(refs);
		for (i = 0; i < n; i++) {
			v = json_object_array_get_idx(refs, i);
			if (json_object_is_type(v, json_type_string))
				json_object_object_add(r,
				    json_object_get_string(v),
				    json_object_new_object());
			else if (json_object_is_type(v, json_type_object) &&
			    json_object_object_get_ex(v, "id", &o) &&
			    json_object_is_type(o, json_type_string)) {
				json_object *opt = NULL;

				json_object_object_get_ex(v, "options", &opt);
				json_object_object_add(r,
				    json_object_get_string(o), opt ?
				    json_object_get(opt) :
				    json_object_new_object());
			}
		}
	} else if (json_object_is_type(refs, json_type_object)) {
		json_object_object_foreach(refs, k, val)
			json_object_object_add(r, k, json_object_get(val));
	}
	if (!resolve)
		return r;
	o = json_object_new_object();
	json_object_object_foreach(r, k2, val2) {
		int pi;

		if (strncmp(k2, "name:", 5) != 0)
			continue;
		pi = manifest_ref(m, k2);
		if (pi < 0)
			continue;
		json_object_object_add(o, m->p[pi].id[0] ? m->p[pi].id :
		    "null", json_object_get(val2));
	}
	json_object_put(r);
	return o;
}

const char **
input_sources(json_object *input, size_t *np)
{
	json_object	*refs, *v;
	const char	**out;
	size_t		 i, n, k = 0;

	*np = 0;
	if (!json_object_object_get_ex(input, "references", &refs))
		return NULL;
	if (json_object_is_type(refs, json_type_array)) {
		n = json_object_array_length(refs);
		out = xcalloc(n + 1, sizeof(*out));
		for (i = 0; i < n; i++) {
			v = json_object_array_get_idx(refs, i);
			if (json_object_is_type(v, json_type_string))
				out[k++] = json_object_get_string(v);
			else if (json_object_is_type(v, json_type_object) &&
			    json_object_object_get_ex(v, "id", &v) &&
			    json_object_is_type(v, json_type_string))
				out[k++] = json_object_get_string(v);
		}
	} else if (json_object_is_type(refs, json_type_object)) {
		out = xcalloc(json_object_object_length(refs) + 1,
		    sizeof(*out));
		json_object_object_foreach(refs, key, val) {
			(void)val;
			out[k++] = key;
		}
	} else
		return NULL;
	*np = k;
	return out;
}

/* ---- inputs at run time ---- */

static json_object *
get_input(struct stage_run *r, const char *name)
{
	json_object	*in;

	if (r->s->inputs == NULL ||
	    !json_object_object_get_ex(r->s->inputs, name, &in))
		return NULL;
	return in;
}

char *
input_tree(struct stage_run *r, const char *name, char *why, size_t whylen)
{
	json_object	*in = get_input(r, name);
	const char	**refs;
	size_t		 n;
	int		 pi;

	if (in == NULL) {
		snprintf(why, whylen, "no input %s", name);
		return NULL;
	}
	refs = input_sources(in, &n);
	pi = n == 1 ? manifest_ref(r->m, refs[0]) : -1;
	free(refs);
	if (pi < 0 || r->m->p[pi].tree == NULL) {
		snprintf(why, whylen, "input %s: the pipeline was not built",
		    name);
		return NULL;
	}
	return xstrdup(r->m->p[pi].tree);
}

/*
 * One file: from a pipeline (reference options {"file": "NAME"}, or the
 * only file of its tree) or from a source (its store path).
 */
char *
input_file(struct stage_run *r, const char *name, char *why, size_t whylen)
{
	json_object	*in = get_input(r, name), *origin, *refs, *o;
	const char	**sums, *file = NULL;
	char		*path = NULL;
	size_t		 n;
	int		 pi;

	if (in == NULL) {
		snprintf(why, whylen, "no input %s", name);
		return NULL;
	}
	sums = input_sources(in, &n);
	if (n != 1) {
		snprintf(why, whylen, "input %s: exactly one reference "
		    "expected", name);
		goto out;
	}
	json_object_object_get_ex(in, "origin", &origin);
	if (strcmp(json_object_get_string(origin), "org.osbuild.source") == 0) {
		path = store_source_path(r->store, sums[0]);
		goto out;
	}
	pi = manifest_ref(r->m, sums[0]);
	if (pi < 0 || r->m->p[pi].tree == NULL) {
		snprintf(why, whylen, "input %s: the pipeline was not built",
		    name);
		goto out;
	}
	if (json_object_object_get_ex(in, "references", &refs) &&
	    json_object_is_type(refs, json_type_object) &&
	    json_object_object_get_ex(refs, sums[0], &o))
		file = json_get_str(o, "file");
	if (file == NULL && json_object_object_get_ex(in, "options", &o))
		file = json_get_str(o, "file");
	if (file != NULL) {
		while (*file == '/')
			file++;
		if (!name_is_safe(file)) {
			snprintf(why, whylen, "input %s: file '%s' is not a "
			    "plain file name", name, file);
			goto out;
		}
		path = xasprintf("%s/%s", r->m->p[pi].tree, file);
	} else
		snprintf(why, whylen, "input %s: name the file with the "
		    "reference option \"file\"", name);
out:
	free(sums);
	return path;
}
