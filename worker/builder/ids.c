/*
 * Stage and pipeline ids, computed as osbuild computes them, so that the
 * store is keyed the way osbuild keys its own.
 */
#include <openssl/evp.h>

#include <stdio.h>
#include <string.h>

#include "builder/build.h"
#include "builder/pyjson.h"

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
		pyjson_str(b, s, strlen(s));
}

/*
 * Stage id as osbuild computes it: sha256 over json.dumps of the type,
 * the build pipeline id, the previous stage id, the options, the source
 * epoch when set, and {input name: input id} when there are inputs.
 */
void
manifest_ids(struct manifest *m)
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
