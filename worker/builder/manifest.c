/*
 * The manifest: loads osbuild's format version "2" (pipelines of stages,
 * curl sources) and checks it as osbuild's schema check does (all errors
 * at once, each with its JSON path, reported through schema.c; stage
 * options by the table in stages.c), then has ids.c give it ids.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "builder/schema.h"

#define MAX_PIPELINES	64
#define MAX_STAGES	256
#define MAX_ITEMS	100000

static int
is_sha256_ref(const char *s)
{
	size_t	 i;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
		return 0;
	for (i = 7; i < 71; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

static void
check_sources(struct manifest *m, json_object *sources, json_object *errors)
{
	static const char *const curl_keys[] = { "items", NULL };
	static const char *const item_keys[] = { "url", "insecure", "secrets",
	    NULL };
	json_object	*path, *cpath, *items, *ipath;
	size_t		 n = 0;

	path = json_object_new_array();
	json_object_array_add(path, json_object_new_string("sources"));
	json_object_object_foreach(sources, type, desc) {
		cpath = path_key(path, type);
		if (strcmp(type, "org.osbuild.curl") != 0) {
			verr_add(errors, cpath, "unsupported source type '%s' "
			    "(ib-build supports org.osbuild.curl)", type);
			json_object_put(cpath);
			continue;
		}
		if (!json_object_is_type(desc, json_type_object)) {
			verr_add(errors, cpath, "%s is not of type 'object'",
			    schema_type_name(desc));
			json_object_put(cpath);
			continue;
		}
		schema_only_keys(desc, curl_keys, cpath, errors);
		items = schema_member(desc, "items", json_type_object, 1, cpath,
		    errors);
		ipath = path_key(cpath, "items");
		if (items != NULL) {
			m->curl = items;
			json_object_object_foreach(items, sum, item) {
				json_object *p = path_key(ipath, sum);

				if (++n > MAX_ITEMS) {
					verr_add(errors, ipath, "too many "
					    "items (at most %d)", MAX_ITEMS);
					json_object_put(p);
					break;
				}
				if (!is_sha256_ref(sum))
					verr_add(errors, p, "'%s' does not "
					    "match '^sha256:[0-9a-f]{64}$' "
					    "(only sha256 is supported)", sum);
				if (json_object_is_type(item,
				    json_type_object)) {
					schema_only_keys(item, item_keys, p,
					    errors);
					schema_member(item, "url",
					    json_type_string, 1, p, errors);
				} else if (!json_object_is_type(item,
				    json_type_string))
					verr_add(errors, p, "%s is not of type "
					    "'string' or 'object'",
					    schema_type_name(item));
				json_object_put(p);
			}
		}
		json_object_put(ipath);
		json_object_put(cpath);
	}
	json_object_put(path);
}

static void
check_input(struct manifest *m, int pi, const char *iname, json_object *in,
    json_object *path, json_object *errors)
{
	static const char *const keys[] = { "type", "origin", "references",
	    "options", NULL };
	json_object	*refs, *t, *o;
	const char	*type, *origin;
	const char	**sums;
	size_t		 i, n;

	(void)iname;
	if (!json_object_is_type(in, json_type_object)) {
		verr_add(errors, path, "%s is not of type 'object'",
		    schema_type_name(in));
		return;
	}
	schema_only_keys(in, keys, path, errors);
	t = schema_member(in, "type", json_type_string, 1, path, errors);
	o = schema_member(in, "origin", json_type_string, 1, path, errors);
	schema_member(in, "options", json_type_object, 0, path, errors);
	if (t == NULL || o == NULL)
		return;
	type = json_object_get_string(t);
	origin = json_object_get_string(o);
	if (strcmp(type, "org.osbuild.files") != 0 &&
	    strcmp(type, "org.osbuild.tree") != 0) {
		json_object *p = path_key(path, "type");

		verr_add(errors, p, "unsupported input type '%s' (ib-build "
		    "supports org.osbuild.files and org.osbuild.tree)", type);
		json_object_put(p);
		return;
	}
	if (strcmp(origin, "org.osbuild.source") != 0 &&
	    strcmp(origin, "org.osbuild.pipeline") != 0) {
		json_object *p = path_key(path, "origin");

		verr_add(errors, p, "'%s' is not one of ['org.osbuild.source', "
		    "'org.osbuild.pipeline']", origin);
		json_object_put(p);
		return;
	}
	if (json_object_object_get_ex(in, "references", &refs) &&
	    !json_object_is_type(refs, json_type_array) &&
	    !json_object_is_type(refs, json_type_object)) {
		verr_add(errors, path, "references must be an array or an "
		    "object");
		return;
	}
	sums = input_sources(in, &n);
	for (i = 0; i < n; i++) {
		json_object *p = path_key(path, "references");

		if (strcmp(origin, "org.osbuild.pipeline") == 0) {
			int ri = manifest_ref(m, sums[i]);

			if (ri < 0 || ri >= pi)
				verr_add(errors, p, "unknown pipeline "
				    "reference '%s' (must name an earlier "
				    "pipeline as name:NAME)", sums[i]);
		} else if (manifest_source_url(m, sums[i]) == NULL)
			verr_add(errors, p, "unknown source reference '%s'",
			    sums[i]);
		json_object_put(p);
	}
	if (strcmp(type, "org.osbuild.tree") == 0 && (n != 1 ||
	    strcmp(origin, "org.osbuild.pipeline") != 0))
		verr_add(errors, path, "an org.osbuild.tree input takes "
		    "exactly one pipeline reference");
	free(sums);
}

static void
check_stage(struct manifest *m, int pi, struct stage *st, json_object *desc,
    json_object *path, json_object *errors)
{
	static const char *const keys[] = { "type", "options", "inputs",
	    "devices", "mounts", NULL };
	json_object	*t, *opts, *inputs, *v;

	if (!json_object_is_type(desc, json_type_object)) {
		verr_add(errors, path, "%s is not of type 'object'",
		    schema_type_name(desc));
		return;
	}
	schema_only_keys(desc, keys, path, errors);
	if (json_object_object_get_ex(desc, "devices", &v) ||
	    json_object_object_get_ex(desc, "mounts", &v))
		verr_add(errors, path, "devices and mounts are not supported "
		    "by ib-build (io.ib.disk assembles disks)");
	t = schema_member(desc, "type", json_type_string, 1, path, errors);
	opts = schema_member(desc, "options", json_type_object, 0, path,
	    errors);
	inputs = schema_member(desc, "inputs", json_type_object, 0, path,
	    errors);
	if (t == NULL)
		return;
	st->type = json_object_get_string(t);
	st->kind = stage_kind_find(st->type);
	if (st->kind == NULL) {
		json_object *p = path_key(path, "type");

		verr_add(errors, p, "unsupported stage type '%s' (ib-build "
		    "supports: %s)", st->type, stage_kind_list());
		json_object_put(p);
		return;
	}
	st->options = opts ? json_object_get(opts) : json_object_new_object();
	st->inputs = inputs;
	if (inputs != NULL) {
		json_object *ip = path_key(path, "inputs");

		json_object_object_foreach(inputs, iname, in) {
			json_object *p = path_key(ip, iname);

			check_input(m, pi, iname, in, p, errors);
			json_object_put(p);
		}
		json_object_put(ip);
	}
	{
		json_object *op = path_key(path, "options");

		st->kind->check(st->options, inputs, op, errors);
		json_object_put(op);
	}
}

static void
check_pipeline(struct manifest *m, int pi, json_object *desc,
    json_object *path, json_object *errors)
{
	static const char *const keys[] = { "name", "build", "runner",
	    "source-epoch", "stages", NULL };
	struct pipeline	*p = &m->p[pi];
	json_object	*v, *stages;
	size_t		 i, n;

	p->build = -1;
	if (!json_object_is_type(desc, json_type_object)) {
		verr_add(errors, path, "%s is not of type 'object'",
		    schema_type_name(desc));
		return;
	}
	schema_only_keys(desc, keys, path, errors);
	if ((v = schema_member(desc, "name", json_type_string, 1, path,
	    errors)) != NULL) {
		p->name = json_object_get_string(v);
		if (!name_is_safe(p->name))
			verr_add(errors, path, "pipeline name '%s' is not a "
			    "safe file name", p->name);
		else if (manifest_find(m, p->name) != pi)
			verr_add(errors, path, "duplicate pipeline name '%s'",
			    p->name);
	}
	schema_member(desc, "runner", json_type_string, 0, path, errors);
	if (json_object_object_get_ex(desc, "source-epoch", &v)) {
		if (json_object_is_type(v, json_type_int))
			p->source_epoch = v;
		else
			verr_add(errors, path, "source-epoch must be an "
			    "integer");
	}
	if ((v = schema_member(desc, "build", json_type_string, 0, path,
	    errors)) != NULL) {
		p->build = manifest_ref(m, json_object_get_string(v));
		if (p->build < 0 || p->build >= pi) {
			json_object *bp = path_key(path, "build");

			verr_add(errors, bp, "unknown pipeline reference '%s'",
			    json_object_get_string(v));
			json_object_put(bp);
			p->build = -1;
		}
	}
	stages = schema_member(desc, "stages", json_type_array, 0, path,
	    errors);
	if (stages == NULL)
		return;
	n = json_object_array_length(stages);
	if (n > MAX_STAGES) {
		verr_add(errors, path, "too many stages (at most %d)",
		    MAX_STAGES);
		return;
	}
	p->stages = xcalloc(n ? n : 1, sizeof(*p->stages));
	p->nstages = n;
	for (i = 0; i < n; i++) {
		json_object *sp = path_key(path, "stages"), *sp2;

		sp2 = path_idx(sp, (int)i);
		p->stages[i].index = i;
		check_stage(m, pi, &p->stages[i],
		    json_object_array_get_idx(stages, i), sp2, errors);
		json_object_put(sp2);
		json_object_put(sp);
	}
}

struct manifest *
manifest_load(const char *text, size_t len, json_object *errors)
{
	static const char *const keys[] = { "version", "pipelines", "sources",
	    "metadata", NULL };
	struct json_tokener	*tok;
	struct manifest		*m;
	json_object		*root, *v, *pipes, *path;
	size_t			 i, n, nerr;

	nerr = json_object_array_length(errors);
	tok = json_tokener_new_ex(64);
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		verr_add(errors, NULL, "the manifest is not valid JSON: %s",
		    json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		json_object_put(root);
		return NULL;
	}
	json_tokener_free(tok);
	m = xcalloc(1, sizeof(*m));
	m->root = root;
	path = json_object_new_array();
	if (!json_object_is_type(root, json_type_object)) {
		verr_add(errors, path, "%s is not of type 'object'",
		    schema_type_name(root));
		goto out;
	}
	schema_only_keys(root, keys, path, errors);
	if (!json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2") != 0) {
		json_object *p = path_key(path, "version");

		verr_add(errors, p, "'2' was expected (ib-build reads manifest "
		    "format version 2)");
		json_object_put(p);
	}
	schema_member(root, "metadata", json_type_object, 0, path, errors);
	if ((v = schema_member(root, "sources", json_type_object, 0, path,
	    errors)) != NULL)
		check_sources(m, v, errors);
	pipes = schema_member(root, "pipelines", json_type_array, 0, path,
	    errors);
	n = pipes ? json_object_array_length(pipes) : 0;
	if (n > MAX_PIPELINES) {
		verr_add(errors, path, "too many pipelines (at most %d)",
		    MAX_PIPELINES);
		goto out;
	}
	m->p = xcalloc(n ? n : 1, sizeof(*m->p));
	m->np = n;
	/* Names first: references check against earlier pipelines. */
	for (i = 0; i < n; i++) {
		json_object *pd = json_object_array_get_idx(pipes, i), *nm;

		m->p[i].build = -1;
		if (json_object_is_type(pd, json_type_object) &&
		    json_object_object_get_ex(pd, "name", &nm) &&
		    json_object_is_type(nm, json_type_string))
			m->p[i].name = json_object_get_string(nm);
	}
	for (i = 0; i < n; i++) {
		json_object *pp = path_key(path, "pipelines"), *pp2;

		pp2 = path_idx(pp, (int)i);
		check_pipeline(m, (int)i, json_object_array_get_idx(pipes, i),
		    pp2, errors);
		json_object_put(pp2);
		json_object_put(pp);
	}
out:
	json_object_put(path);
	if (json_object_array_length(errors) > nerr) {
		manifest_free(m);
		return NULL;
	}
	manifest_ids(m);
	return m;
}

void
manifest_free(struct manifest *m)
{
	size_t	 i, j;

	if (m == NULL)
		return;
	for (i = 0; i < m->np; i++) {
		for (j = 0; j < m->p[i].nstages; j++)
			json_object_put(m->p[i].stages[j].options);
		free(m->p[i].stages);
		free(m->p[i].tree);
		json_object_put(m->p[i].log);
		json_object_put(m->p[i].meta);
	}
	free(m->p);
	json_object_put(m->root);
	free(m);
}
