/*
 * The manifest: osbuild's format version "2" (pipelines of stages, curl
 * sources), checked like osbuild's schema check (all errors at once, each
 * with its JSON path), and the content ids osbuild gives stages, so the
 * store is keyed the way osbuild keys its own.
 */
#include <openssl/evp.h>

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"

#define MAX_PIPELINES	64
#define MAX_STAGES	256
#define MAX_ITEMS	100000

/* ---- Python's json.dumps(sort_keys=True) ---- */

static void
pystr(struct buf *b, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s, *end = p + len;
	uint32_t		 cp;
	int			 n, i;

	buf_addstr(b, "\"");
	while (p < end) {
		unsigned char c = *p;

		if (c == '"' || c == '\\') {
			buf_printf(b, "\\%c", c);
			p++;
			continue;
		}
		if (c >= 0x20 && c < 0x7f) {
			buf_add(b, p, 1);
			p++;
			continue;
		}
		switch (c) {
		case '\n': buf_addstr(b, "\\n"); p++; continue;
		case '\r': buf_addstr(b, "\\r"); p++; continue;
		case '\t': buf_addstr(b, "\\t"); p++; continue;
		case '\b': buf_addstr(b, "\\b"); p++; continue;
		case '\f': buf_addstr(b, "\\f"); p++; continue;
		}
		/* UTF-8 to code point; json-c only hands us valid UTF-8. */
		if (c < 0x80)
			cp = c, n = 1;
		else if ((c & 0xe0) == 0xc0)
			cp = c & 0x1f, n = 2;
		else if ((c & 0xf0) == 0xe0)
			cp = c & 0x0f, n = 3;
		else
			cp = c & 0x07, n = 4;
		for (i = 1; i < n && p + i < end; i++)
			cp = (cp << 6) | (p[i] & 0x3f);
		p += n;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
			    0xdc00 + (cp & 0x3ff));
		} else
			buf_printf(b, "\\u%04x", cp);
	}
	buf_addstr(b, "\"");
}

static int
keycmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
pyfloat(struct buf *b, double d)
{
	char	 s[64];
	int	 prec;

	if (isnan(d)) {
		buf_addstr(b, "NaN");
		return;
	}
	if (isinf(d)) {
		buf_addstr(b, d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	/* Shortest text that reads back the same, like Python's repr. */
	for (prec = 1; prec <= 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, d);
		if (strtod(s, NULL) == d)
			break;
	}
	if (strpbrk(s, ".e") == NULL) {
		size_t l = strlen(s);

		snprintf(s + l, sizeof(s) - l, ".0");
	}
	buf_addstr(b, s);
}

void
pyjson_dump(struct buf *b, json_object *o)
{
	size_t	 i, n;

	switch (json_object_get_type(o)) {
	case json_type_null:
		buf_addstr(b, "null");
		break;
	case json_type_boolean:
		buf_addstr(b, json_object_get_boolean(o) ? "true" : "false");
		break;
	case json_type_int:
		buf_printf(b, "%lld", (long long)json_object_get_int64(o));
		break;
	case json_type_double:
		pyfloat(b, json_object_get_double(o));
		break;
	case json_type_string:
		pystr(b, json_object_get_string(o),
		    json_object_get_string_len(o));
		break;
	case json_type_array:
		buf_addstr(b, "[");
		n = json_object_array_length(o);
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_addstr(b, ", ");
			pyjson_dump(b, json_object_array_get_idx(o, i));
		}
		buf_addstr(b, "]");
		break;
	case json_type_object: {
		const char	**keys;

		n = json_object_object_length(o);
		keys = xcalloc(n + 1, sizeof(*keys));
		i = 0;
		json_object_object_foreach(o, k, v) {
			(void)v;
			keys[i++] = k;
		}
		qsort(keys, n, sizeof(*keys), keycmp);
		buf_addstr(b, "{");
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_addstr(b, ", ");
			pystr(b, keys[i], strlen(keys[i]));
			buf_addstr(b, ": ");
			pyjson_dump(b, json_object_object_get(o, keys[i]));
		}
		buf_addstr(b, "}");
		free(keys);
		break;
	}
	}
}

/* ---- validation errors ---- */

void
verr_add(json_object *errors, json_object *path, const char *fmt, ...)
{
	json_object	*e, *p;
	va_list		 ap;
	char		*msg;
	size_t		 i, n;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	e = json_object_new_object();
	json_object_object_add(e, "message", json_object_new_string(msg));
	p = json_object_new_array();
	n = path ? json_object_array_length(path) : 0;
	for (i = 0; i < n; i++)
		json_object_array_add(p, json_object_get(
		    json_object_array_get_idx(path, i)));
	json_object_object_add(e, "path", p);
	json_object_array_add(errors, e);
	free(msg);
}

static json_object *
path_copy(json_object *path)
{
	json_object	*p = json_object_new_array();
	size_t		 i, n;

	n = path ? json_object_array_length(path) : 0;
	for (i = 0; i < n; i++)
		json_object_array_add(p, json_object_get(
		    json_object_array_get_idx(path, i)));
	return p;
}

json_object *
path_key(json_object *path, const char *key)
{
	json_object	*p = path_copy(path);

	json_object_array_add(p, json_object_new_string(key));
	return p;
}

json_object *
path_idx(json_object *path, int idx)
{
	json_object	*p = path_copy(path);

	json_object_array_add(p, json_object_new_int(idx));
	return p;
}

/* Reports keys of o not in allowed (NULL-terminated). */
static void
only_keys(json_object *o, const char *const *allowed, json_object *path,
    json_object *errors)
{
	size_t	 i;

	json_object_object_foreach(o, k, v) {
		(void)v;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (allowed[i] == NULL)
			verr_add(errors, path, "Additional properties are not "
			    "allowed ('%s' was unexpected)", k);
	}
}

static const char *
type_name(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null: return "null";
	case json_type_boolean: return "boolean";
	case json_type_int: return "integer";
	case json_type_double: return "number";
	case json_type_string: return "string";
	case json_type_array: return "array";
	case json_type_object: return "object";
	}
	return "?";
}

/* Returns member key of o when it has type t, else NULL (with an error
 * when present but of another type, or when required and absent). */
static json_object *
member(json_object *o, const char *key, json_type t, int required,
    json_object *path, json_object *errors)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, key, &v)) {
		if (required)
			verr_add(errors, path, "'%s' is a required property",
			    key);
		return NULL;
	}
	if (json_object_get_type(v) != t) {
		json_object *p = path_key(path, key);

		verr_add(errors, p, "%s is not of type '%s'",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		    t == json_type_string ? "string" : t == json_type_array ?
		    "array" : t == json_type_object ? "object" : "integer");
		json_object_put(p);
		return NULL;
	}
	return v;
}

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
			    type_name(desc));
			json_object_put(cpath);
			continue;
		}
		only_keys(desc, curl_keys, cpath, errors);
		items = member(desc, "items", json_type_object, 1, cpath,
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
					only_keys(item, item_keys, p, errors);
					member(item, "url", json_type_string, 1,
					    p, errors);
				} else if (!json_object_is_type(item,
				    json_type_string))
					verr_add(errors, p, "%s is not of type "
					    "'string' or 'object'",
					    type_name(item));
				json_object_put(p);
			}
		}
		json_object_put(ipath);
		json_object_put(cpath);
	}
	json_object_put(path);
}

const char *
manifest_source_url(const struct manifest *m, const char *sum)
{
	json_object	*item, *u;

	if (m->curl == NULL || !json_object_object_get_ex(m->curl, sum, &item))
		return NULL;
	if (json_object_is_type(item, json_type_string))
		return json_object_get_string(item);
	if (json_object_object_get_ex(item, "url", &u) &&
	    json_object_is_type(u, json_type_string))
		return json_object_get_string(u);
	return NULL;
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
static json_object *
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
		    type_name(in));
		return;
	}
	only_keys(in, keys, path, errors);
	t = member(in, "type", json_type_string, 1, path, errors);
	o = member(in, "origin", json_type_string, 1, path, errors);
	member(in, "options", json_type_object, 0, path, errors);
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
		    type_name(desc));
		return;
	}
	only_keys(desc, keys, path, errors);
	if (json_object_object_get_ex(desc, "devices", &v) ||
	    json_object_object_get_ex(desc, "mounts", &v))
		verr_add(errors, path, "devices and mounts are not supported "
		    "by ib-build (io.ib.disk assembles disks)");
	t = member(desc, "type", json_type_string, 1, path, errors);
	opts = member(desc, "options", json_type_object, 0, path, errors);
	inputs = member(desc, "inputs", json_type_object, 0, path, errors);
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
		    type_name(desc));
		return;
	}
	only_keys(desc, keys, path, errors);
	if ((v = member(desc, "name", json_type_string, 1, path, errors)) !=
	    NULL) {
		p->name = json_object_get_string(v);
		if (!name_is_safe(p->name))
			verr_add(errors, path, "pipeline name '%s' is not a "
			    "safe file name", p->name);
		else if (manifest_find(m, p->name) != pi)
			verr_add(errors, path, "duplicate pipeline name '%s'",
			    p->name);
	}
	member(desc, "runner", json_type_string, 0, path, errors);
	if (json_object_object_get_ex(desc, "source-epoch", &v)) {
		if (json_object_is_type(v, json_type_int))
			p->source_epoch = v;
		else
			verr_add(errors, path, "source-epoch must be an "
			    "integer");
	}
	if ((v = member(desc, "build", json_type_string, 0, path, errors)) !=
	    NULL) {
		p->build = manifest_ref(m, json_object_get_string(v));
		if (p->build < 0 || p->build >= pi) {
			json_object *bp = path_key(path, "build");

			verr_add(errors, bp, "unknown pipeline reference '%s'",
			    json_object_get_string(v));
			json_object_put(bp);
			p->build = -1;
		}
	}
	stages = member(desc, "stages", json_type_array, 0, path, errors);
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

static void
sha256_hex(const struct buf *b, char hex[IB_ID_LEN + 1])
{
	unsigned char	 md[32];
	unsigned int	 len = 0;
	int		 i;

	EVP_Digest(b->data, b->len, md, &len, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
dump_str_or_null(struct buf *b, const char *s)
{
	if (s == NULL || *s == '\0')
		buf_addstr(b, "null");
	else
		pystr(b, s, strlen(s));
}

/*
 * Stage id as osbuild computes it: sha256 over json.dumps of the type,
 * the build pipeline id, the previous stage id, the options, the source
 * epoch when set, and {input name: input id} when there are inputs.
 */
static void
compute_ids(struct manifest *m)
{
	struct buf	 b, ib;
	size_t		 pi, si;

	buf_init(&b);
	buf_init(&ib);
	for (pi = 0; pi < m->np; pi++) {
		struct pipeline *p = &m->p[pi];
		const char *prev = NULL;

		for (si = 0; si < p->nstages; si++) {
			struct stage *st = &p->stages[si];

			buf_reset(&b);
			dump_str_or_null(&b, st->type);
			dump_str_or_null(&b, p->build >= 0 ?
			    m->p[p->build].id : NULL);
			dump_str_or_null(&b, prev);
			pyjson_dump(&b, st->options);
			if (p->source_epoch != NULL)
				pyjson_dump(&b, p->source_epoch);
			if (st->inputs != NULL &&
			    json_object_object_length(st->inputs) > 0) {
				json_object *ids = json_object_new_object();

				json_object_object_foreach(st->inputs, n, in) {
					json_object *refs, *o = NULL, *t, *or;
					char iid[IB_ID_LEN + 1];

					json_object_object_get_ex(in, "type",
					    &t);
					json_object_object_get_ex(in, "origin",
					    &or);
					refs = input_refs(m, in, strcmp(
					    json_object_get_string(or),
					    "org.osbuild.pipeline") == 0);
					buf_reset(&ib);
					pyjson_dump(&ib, t);
					pyjson_dump(&ib, or);
					pyjson_dump(&ib, refs);
					if (json_object_object_get_ex(in,
					    "options", &o))
						pyjson_dump(&ib, o);
					else
						buf_addstr(&ib, "{}");
					sha256_hex(&ib, iid);
					json_object_object_add(ids, n,
					    json_object_new_string(iid));
					json_object_put(refs);
				}
				pyjson_dump(&b, ids);
				json_object_put(ids);
			}
			sha256_hex(&b, st->id);
			prev = st->id;
		}
		if (p->nstages > 0)
			memcpy(p->id, p->stages[p->nstages - 1].id,
			    IB_ID_LEN + 1);
	}
	buf_free(&b);
	buf_free(&ib);
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
		    type_name(root));
		goto out;
	}
	only_keys(root, keys, path, errors);
	if (!json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2") != 0) {
		json_object *p = path_key(path, "version");

		verr_add(errors, p, "'2' was expected (ib-build reads manifest "
		    "format version 2)");
		json_object_put(p);
	}
	member(root, "metadata", json_type_object, 0, path, errors);
	if ((v = member(root, "sources", json_type_object, 0, path, errors)) !=
	    NULL)
		check_sources(m, v, errors);
	pipes = member(root, "pipelines", json_type_array, 0, path, errors);
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
	compute_ids(m);
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
