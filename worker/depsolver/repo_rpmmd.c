/*
 * rpm-md repositories: repomd.xml (checked with the keyring when
 * repo_gpgcheck is on), primary and comps checked against the checksums
 * it gives (see repo_formats.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "depsolver/repo_formats.h"
#include "log.h"

struct mdfile {
	char	*href;
	char	*alg;
	char	*sum;
};

static void
mdfile_free(struct mdfile *m)
{
	free(m->href);
	free(m->alg);
	free(m->sum);
	memset(m, 0, sizeof(*m));
}

/* The location and checksum of one data type of repomd.xml. */
static int
repomd_find(const char *xml, size_t len, const char *type, struct mdfile *m)
{
	xmlDocPtr	 doc;
	xmlNodePtr	 n, k;
	int		 rv = -1;

	memset(m, 0, sizeof(*m));
	doc = xmlReadMemory(xml, (int)len, "repomd.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || xmlDocGetRootElement(doc) == NULL)
		goto cleanup;
	for (n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
		xmlChar *t;

		if (n->type != XML_ELEMENT_NODE ||
		    strcmp((const char *)n->name, "data") != 0)
			continue;
		t = xmlGetProp(n, (const xmlChar *)"type");
		if (t == NULL || strcmp((const char *)t, type) != 0) {
			xmlFree(t);
			continue;
		}
		xmlFree(t);
		for (k = n->children; k; k = k->next) {
			xmlChar *v;

			if (k->type != XML_ELEMENT_NODE)
				continue;
			if (strcmp((const char *)k->name, "location") == 0 &&
			    (v = xmlGetProp(k, (const xmlChar *)"href"))) {
				free(m->href);
				m->href = xstrdup((const char *)v);
				xmlFree(v);
			} else if (strcmp((const char *)k->name,
			    "checksum") == 0) {
				v = xmlGetProp(k, (const xmlChar *)"type");
				free(m->alg);
				m->alg = xstrdup(v ? (const char *)v : "");
				xmlFree(v);
				v = xmlNodeGetContent(k);
				free(m->sum);
				m->sum = xstrdup(v ? (const char *)v : "");
				xmlFree(v);
			}
		}
		break;
	}
	if (m->href != NULL && m->sum != NULL)
		rv = 0;
	else
		mdfile_free(m);
cleanup:
	xmlFreeDoc(doc);
	return rv;
}

/* Fetches a file repomd.xml names and checks it. 0 or -1 (err set). */
static int
rpmmd_file(struct loadctx *c, const char *base, struct mdfile *m,
    struct buf *out)
{
	char	*url, *hex = NULL;
	long	 st;
	int	 rv = -1;

	if (strstr(m->href, "..") != NULL || *m->href == '/') {
		ds_seterr(c->err, DS_REPO, "repository '%s': bad location "
		    "%s in repomd.xml", c->r->id, m->href);
		return -1;
	}
	url = rc_join_url(base, m->href);
	if (fetch_get(c->f, c->r, url, LIST_MAX, out, &st, c->why,
	    sizeof(c->why)) == -1) {
		ds_seterr(c->err, DS_REPO, "Failed to download metadata for "
		    "repo '%s': %s", c->r->id, c->why);
		goto cleanup;
	}
	if (strcmp(m->alg, "sha") == 0) {
		free(m->alg);
		m->alg = xstrdup("sha1");
	}
	hex = rc_digest(m->alg, out->data, out->len);
	if (hex == NULL || strcasecmp(hex, m->sum) != 0) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s does not "
		    "match its %s checksum in repomd.xml", c->r->id, url,
		    m->alg);
		goto cleanup;
	}
	rv = 0;
cleanup:
	free(hex);
	free(url);
	return rv;
}

int
rpmmd_from(struct loadctx *c, Repo *repo, const char *base)
{
	struct keyring	*kr = NULL;
	struct buf	 md, sig, list;
	struct mdfile	 prim, grp;
	char		*url, *sigurl = NULL;
	const char	*gname;
	long		 st;
	int		 rv = -1;

	buf_init(&md);
	buf_init(&sig);
	buf_init(&list);
	memset(&prim, 0, sizeof(prim));
	memset(&grp, 0, sizeof(grp));
	url = rc_join_url(base, "repodata/repomd.xml");
	if (fetch_get(c->f, c->r, url, INDEX_MAX, &md, &st, c->why,
	    sizeof(c->why)) == -1) {
		rv = -2;
		goto cleanup;
	}
	if (c->r->repo_gpgcheck) {
		sigurl = rc_join_url(base, "repodata/repomd.xml.asc");
		if (fetch_get(c->f, c->r, sigurl, INDEX_MAX, &sig, &st,
		    c->why, sizeof(c->why)) == -1) {
			ds_seterr(c->err, DS_REPO, "repository '%s': "
			    "repo_gpgcheck is on and the signature cannot be "
			    "fetched: %s", c->r->id, c->why);
			goto cleanup;
		}
		if ((kr = rc_keyring(c, 0)) == NULL)
			goto cleanup;
		if (gpg_verify_detached(kr, md.data, md.len, sig.data,
		    sig.len, c->why, sizeof(c->why)) == -1) {
			ds_seterr(c->err, DS_REPO, "repository '%s': %s: %s",
			    c->r->id, url, c->why);
			goto cleanup;
		}
	}
	if (rc_cache_reuse(c, repo, md.data, md.len)) {
		rv = 0;
		goto cleanup;
	}
	if (repomd_find(md.data, md.len, "primary", &prim) == -1) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s names no "
		    "primary metadata", c->r->id, url);
		goto cleanup;
	}
	if (rpmmd_file(c, base, &prim, &list) == -1)
		goto cleanup;
	if (rc_add_list(repo, prim.href, &list, 0) == -1) {
		ds_seterr(c->err, DS_REPO, "repository '%s': cannot read %s: "
		    "%s", c->r->id, prim.href, pool_errstr(c->pool));
		goto cleanup;
	}
	if (repomd_find(md.data, md.len, "group_gz", &grp) == 0 ||
	    repomd_find(md.data, md.len, "group", &grp) == 0) {
		if (rpmmd_file(c, base, &grp, &list) == -1)
			goto cleanup;
		/* add_list tells comps by name; keep the suffix. */
		gname = strrchr(grp.href, '.') != NULL &&
		    strcmp(strrchr(grp.href, '.'), ".xml") != 0 ?
		    strrchr(grp.href, '.') : "";
		{
			char *n = xasprintf("comps%s", gname);

			if (rc_add_list(repo, n, &list, 0) == -1)
				log_warnx("repository '%s': comps %s "
				    "unreadable, groups unavailable",
				    c->r->id, grp.href);
			free(n);
		}
	}
	repo_internalize(repo);
	rc_cache_save(c, repo, md.data, md.len, base);
	rv = 0;
cleanup:
	mdfile_free(&prim);
	mdfile_free(&grp);
	gpg_keyring_free(kr);
	buf_free(&md);
	buf_free(&sig);
	buf_free(&list);
	free(sigurl);
	free(url);
	return rv;
}
