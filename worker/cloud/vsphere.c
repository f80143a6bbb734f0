/*
 * vSphere's SOAP API (vim25) over the project's HTTP layer, the documents
 * built and read with libxml2: what an image import needs and nothing
 * more. The session cookie is a credential: it goes in a header of each
 * call and never into a log or an error.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "cloud.h"
#include "http.h"
#include "log.h"
#include "util.h"
#include "vsphere.h"
#include "xml.h"

#define NS_SOAP		"http://schemas.xmlsoap.org/soap/envelope/"
#define NS_XSI		"http://www.w3.org/2001/XMLSchema-instance"
#define NS_VIM		"urn:vim25"
#define SOAP_ANSWER_MAX	(16 << 20)
#define OVF_MAX		(1 << 20)
#define OVA_MEMBERS	1000
#define X(s)		((const xmlChar *)(s))

struct moref {
	char	type[64];
	char	value[128];
};

struct vsphere {
	char			*base;		/* https://HOST */
	char			*username;
	char			*password;	/* secret */
	char			*cookie;	/* secret: "vmware_soap_session=..." */
	struct http		*http;
	struct moref		 props, search, session, ovf;
	struct moref		 dc, ds, pool, folder;
	int64_t			 poll_ms, op_timeout;
	const atomic_int	*abort;
	int			 aborted;
	char			 err[1024];
};

int
vsphere_name_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 80 || !text_is_printable(s,
	    80) || strchr(s, '/') != NULL || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return 0;
	return 1;
}

struct vsphere *
vsphere_new(const struct vsphere_cfg *c)
{
	struct http_opts	 ho;
	struct vsphere		*v;
	const char		*u;

	if (c->host == NULL || *c->host == '\0' || strlen(c->host) > 255 ||
	    strspn(c->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:") != strlen(c->host))
		return NULL;
	v = xcalloc(1, sizeof(*v));
	u = getenv("IB_VSPHERE_URL");
	v->base = u != NULL && *u ? xstrdup(u) : xasprintf("https://%s",
	    c->host);
	v->username = xstrdup(c->username != NULL ? c->username : "");
	v->password = xstrdup(c->password != NULL ? c->password : "");
	v->poll_ms = c->poll_ms > 0 ? c->poll_ms : 1000;
	v->op_timeout = c->op_timeout > 0 ? c->op_timeout : 3600;
	v->abort = c->abort;
	memset(&ho, 0, sizeof(ho));
	ho.insecure = c->insecure;
	ho.connect_timeout = c->connect_timeout;
	ho.transfer_timeout = 300;
	v->http = http_new(&ho);
	return v;
}

void
vsphere_free(struct vsphere *v)
{
	if (v == NULL)
		return;
	http_free(v->http);
	free(v->base);
	free(v->username);
	freezero_str(v->password);
	if (v->cookie != NULL)
		freezero_str(v->cookie);
	free(v);
}

const char *
vsphere_error(const struct vsphere *v)
{
	return v->err;
}

int
vsphere_aborted(const struct vsphere *v)
{
	return v->aborted;
}

void
vsphere_set_abort(struct vsphere *v, const atomic_int *abort)
{
	v->abort = abort;
}

/* ---- reading answers ---- */

static int
is(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE &&
	    strcmp((const char *)n->name, name) == 0;
}

/* The first element child of n named name (NULL: any). */
static xmlNodePtr
child(xmlNodePtr n, const char *name)
{
	for (n = n != NULL ? n->children : NULL; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE && (name == NULL ||
		    is(n, name)))
			return n;
	return NULL;
}

static xmlNodePtr
next_named(xmlNodePtr n, const char *name)
{
	for (n = n != NULL ? n->next : NULL; n != NULL; n = n->next)
		if (is(n, name))
			return n;
	return NULL;
}

/* Depth first: the first element named name under n. */
static xmlNodePtr
find(xmlNodePtr n, const char *name)
{
	xmlNodePtr	 c, r;

	for (c = n != NULL ? n->children : NULL; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is(c, name))
			return c;
		if ((r = find(c, name)) != NULL)
			return r;
	}
	return NULL;
}

/* The text of n, cleaned of control characters, into dst. */
static void
text_into(xmlNodePtr n, char *dst, size_t len)
{
	xmlChar	*t = n != NULL ? xmlNodeGetContent(n) : NULL;

	cloud_clean_copy(dst, len, t != NULL ? (const char *)t : "", len);
	xmlFree(t);
}

static int
read_moref(xmlNodePtr n, struct moref *r)
{
	xmlChar	*t;

	memset(r, 0, sizeof(*r));
	if (n == NULL || (t = xmlGetProp(n, X("type"))) == NULL)
		return -1;
	cloud_clean_copy(r->type, sizeof(r->type), (const char *)t,
	    sizeof(r->type));
	xmlFree(t);
	text_into(n, r->value, sizeof(r->value));
	return r->value[0] != '\0' ? 0 : -1;
}

static xmlNodePtr
returnval(xmlDocPtr doc)
{
	return doc != NULL ? find(xmlDocGetRootElement(doc), "returnval") :
	    NULL;
}

/* The xsi:type of n (or NULL); caller frees with xmlFree. */
static xmlChar *
xsi_type(xmlNodePtr n)
{
	return xmlGetNsProp(n, X("type"), X(NS_XSI));
}

/* ---- building calls ---- */

static xmlNodePtr
add(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, parent->ns, X(name), X(text));
}

static void
add_moref(xmlNodePtr parent, const char *name, const struct moref *r)
{
	xmlNodePtr	 n = add(parent, name, r->value);

	xmlNewProp(n, X("type"), X(r->type));
}

/* A request document for method on this; *m gets the method's element. */
static xmlDocPtr
new_call(const char *method, const struct moref *this, xmlNodePtr *m)
{
	xmlDocPtr	 doc = xmlNewDoc(X("1.0"));
	xmlNodePtr	 env, body;
	xmlNsPtr	 soap, vim;

	env = xmlNewNode(NULL, X("Envelope"));
	soap = xmlNewNs(env, X(NS_SOAP), X("soapenv"));
	xmlSetNs(env, soap);
	xmlNewNs(env, X(NS_XSI), X("xsi"));
	xmlDocSetRootElement(doc, env);
	body = xmlNewChild(env, soap, X("Body"), NULL);
	*m = xmlNewChild(body, NULL, X(method), NULL);
	vim = xmlNewNs(*m, X(NS_VIM), NULL);
	xmlSetNs(*m, vim);
	add_moref(*m, "_this", this);
	return doc;
}

/* Copies src (from an answer) under parent as name, namespaces mended. */
static xmlNodePtr
add_copy(xmlNodePtr parent, const char *name, xmlNodePtr src)
{
	xmlNodePtr	 c = xmlDocCopyNode(src, parent->doc, 1);

	if (c == NULL)
		fatalx("vsphere: out of memory copying a node");
	xmlNodeSetName(c, X(name));
	xmlAddChild(parent, c);
	xmlReconciliateNs(parent->doc, c);
	return c;
}

/* The session cookie of an answer, when it sets one. */
static void
take_cookie(struct vsphere *v, const struct http_resp *resp)
{
	char	*sc = http_resp_header(resp, "Set-Cookie");
	size_t	 n;

	if (sc == NULL)
		return;
	n = strcspn(sc, ";");
	if (strncmp(sc, "vmware_soap_session=", 20) == 0 && n < 1024 &&
	    text_is_printable(sc, 1024)) {
		if (v->cookie != NULL)
			freezero_str(v->cookie);
		v->cookie = xstrndup(sc, n);
	}
	freezero_str(sc);
}

/*
 * Sends req (freed here); the answer's document, or NULL with "what: why"
 * in err (a SOAP fault's faultstring and its detail's type).
 */
static xmlDocPtr
soap(struct vsphere *v, const char *what, xmlDocPtr req)
{
	struct http_req	 r;
	struct http_resp resp;
	xmlDocPtr	 doc = NULL;
	xmlNodePtr	 fault, det;
	xmlChar		*mem = NULL;
	const char	*hdrs[4];
	char		*url, *cookie = NULL, fs[600];
	int		 sz = 0, try, rc;

	xmlDocDumpMemoryEnc(req, &mem, &sz, "UTF-8");
	xmlFreeDoc(req);
	url = xasprintf("%s/sdk", v->base);
	hdrs[0] = "SOAPAction: \"urn:vim25/7.0\"";
	hdrs[1] = NULL;
	if (v->cookie != NULL) {
		cookie = xasprintf("Cookie: %s", v->cookie);
		hdrs[1] = cookie;
	}
	hdrs[2] = NULL;
	http_resp_init(&resp);
	for (try = 1;; try++) {
		memset(&r, 0, sizeof(r));
		r.method = "POST";
		r.url = url;
		r.headers = hdrs;
		r.content_type = "text/xml; charset=utf-8";
		r.body = mem;
		r.body_len = sz;
		r.max_body = SOAP_ANSWER_MAX;
		r.abort = v->abort;
		http_resp_free(&resp);
		http_resp_init(&resp);
		rc = http_do(v->http, &r, &resp);
		if (resp.aborted) {
			v->aborted = 1;
			snprintf(v->err, sizeof(v->err), "%s: canceled", what);
			goto cleanup;
		}
		/* Only what never reached vSphere is sent again. */
		if ((rc == -1 || resp.status == 503) && try < 3 &&
		    sleep_abortable(1000 * try, v->abort) == 0)
			continue;
		break;
	}
	if (rc == -1) {
		snprintf(v->err, sizeof(v->err), "%s: %s", what, resp.error);
		goto cleanup;
	}
	doc = xmlReadMemory(resp.body.data, (int)resp.body.len, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOBLANKS);
	fault = doc != NULL ? find(xmlDocGetRootElement(doc), "Fault") : NULL;
	if (fault != NULL) {
		text_into(child(fault, "faultstring"), fs, 500);
		det = child(child(fault, "detail"), NULL);
		snprintf(v->err, sizeof(v->err), "%s: %s%s%.60s%s", what, fs,
		    det != NULL ? " (" : "", det != NULL ?
		    (const char *)det->name : "", det != NULL ? ")" : "");
		xmlFreeDoc(doc);
		doc = NULL;
		goto cleanup;
	}
	if (resp.status != 200 || doc == NULL) {
		snprintf(v->err, sizeof(v->err), "%s: HTTP %ld%s", what,
		    resp.status, doc == NULL ? ", not XML" : "");
		xmlFreeDoc(doc);
		doc = NULL;
		goto cleanup;
	}
	take_cookie(v, &resp);
cleanup:
	if (cookie != NULL)
		freezero_str(cookie);
	xmlFree(mem);
	free(url);
	http_resp_free(&resp);
	return doc;
}

/* A call whose answer is only checked; 0 or -1. */
static int
soap_ok(struct vsphere *v, const char *what, xmlDocPtr req)
{
	xmlDocPtr	 doc = soap(v, what, req);

	xmlFreeDoc(doc);
	return doc != NULL ? 0 : -1;
}

/* ---- session and inventory ---- */

int
vsphere_login(struct vsphere *v)
{
	struct moref	 si = { "ServiceInstance", "ServiceInstance" };
	xmlDocPtr	 doc;
	xmlNodePtr	 m, rv;
	int		 ok;

	doc = soap(v, "reading the service content",
	    new_call("RetrieveServiceContent", &si, &m));
	rv = returnval(doc);
	ok = rv != NULL &&
	    read_moref(child(rv, "propertyCollector"), &v->props) == 0 &&
	    read_moref(child(rv, "searchIndex"), &v->search) == 0 &&
	    read_moref(child(rv, "sessionManager"), &v->session) == 0 &&
	    read_moref(child(rv, "ovfManager"), &v->ovf) == 0;
	if (doc != NULL && !ok)
		snprintf(v->err, sizeof(v->err), "the service content lacks "
		    "a manager this import needs");
	xmlFreeDoc(doc);
	if (!ok)
		return -1;
	doc = new_call("Login", &v->session, &m);
	add(m, "userName", v->username);
	add(m, "password", v->password);
	if (soap_ok(v, "logging in", doc) == -1)
		return -1;
	if (v->cookie == NULL) {
		snprintf(v->err, sizeof(v->err), "logging in: no session "
		    "cookie in the answer");
		return -1;
	}
	return 0;
}

int
vsphere_logout(struct vsphere *v)
{
	xmlNodePtr	 m;
	int		 rv;

	if (v->cookie == NULL)
		return 0;
	rv = soap_ok(v, "logging out", new_call("Logout", &v->session, &m));
	freezero_str(v->cookie);
	v->cookie = NULL;
	return rv;
}

static int
find_path(struct vsphere *v, const char *path, const char *type,
    const char *what, struct moref *out)
{
	xmlDocPtr	 doc;
	xmlNodePtr	 m;
	int		 rv = -1;

	doc = new_call("FindByInventoryPath", &v->search, &m);
	add(m, "inventoryPath", path);
	if ((doc = soap(v, "finding the inventory", doc)) == NULL)
		return -1;
	if (read_moref(returnval(doc), out) == -1 ||
	    strcmp(out->type, type) != 0)
		snprintf(v->err, sizeof(v->err), "%s %s not found", what,
		    path);
	else
		rv = 0;
	xmlFreeDoc(doc);
	return rv;
}

int
vsphere_locate(struct vsphere *v, const struct vsphere_place *p)
{
	char	*path;
	int	 rv;

	path = xstrdup(p->datacenter);
	rv = find_path(v, path, "Datacenter", "datacenter", &v->dc);
	free(path);
	if (rv == -1)
		return -1;
	path = xasprintf("%s/datastore/%s", p->datacenter, p->datastore);
	rv = find_path(v, path, "Datastore", "datastore", &v->ds);
	free(path);
	if (rv == -1)
		return -1;
	path = xasprintf("%s/host/%s/Resources", p->datacenter, p->cluster);
	rv = find_path(v, path, "ResourcePool", "resource pool", &v->pool);
	free(path);
	if (rv == -1)
		return -1;
	path = p->folder != NULL && *p->folder ? xasprintf("%s/vm/%s",
	    p->datacenter, p->folder) : xasprintf("%s/vm", p->datacenter);
	rv = find_path(v, path, "Folder", "folder", &v->folder);
	free(path);
	return rv;
}

/* ---- properties, tasks, leases ---- */

/* RetrievePropertiesEx of one object's properties (NULL-terminated). */
static xmlDocPtr
props(struct vsphere *v, const struct moref *obj, const char *const *paths)
{
	xmlDocPtr	 doc;
	xmlNodePtr	 m, spec, ps, os;

	doc = new_call("RetrievePropertiesEx", &v->props, &m);
	spec = add(m, "specSet", NULL);
	ps = add(spec, "propSet", NULL);
	add(ps, "type", obj->type);
	for (; *paths != NULL; paths++)
		add(ps, "pathSet", *paths);
	os = add(spec, "objectSet", NULL);
	add_moref(os, "obj", obj);
	add(m, "options", NULL);
	return soap(v, "reading properties", doc);
}

/* The val of the property named name in a props() answer. */
static xmlNodePtr
prop(xmlDocPtr doc, const char *name)
{
	xmlNodePtr	 ps;
	char		 n[128];

	for (ps = find(xmlDocGetRootElement(doc), "propSet"); ps != NULL;
	    ps = next_named(ps, "propSet")) {
		text_into(child(ps, "name"), n, sizeof(n));
		if (strcmp(n, name) == 0)
			return child(ps, "val");
	}
	return NULL;
}

static int
poll_sleep(struct vsphere *v, int64_t deadline, const char *what)
{
	if (now_ms() > deadline) {
		snprintf(v->err, sizeof(v->err), "%s took longer than %lld s",
		    what, (long long)v->op_timeout);
		return -1;
	}
	if (sleep_abortable(v->poll_ms, v->abort) == -1) {
		v->aborted = 1;
		snprintf(v->err, sizeof(v->err), "%s: canceled", what);
		return -1;
	}
	return 0;
}

static int
wait_task(struct vsphere *v, const struct moref *task, const char *what)
{
	static const char *const paths[] = { "info.state", "info.error",
	    NULL };
	xmlDocPtr	 doc;
	int64_t		 deadline = now_ms() + v->op_timeout * 1000;
	char		 st[32], msg[500];

	for (;;) {
		if ((doc = props(v, task, paths)) == NULL)
			return -1;
		text_into(prop(doc, "info.state"), st, sizeof(st));
		if (strcmp(st, "success") == 0) {
			xmlFreeDoc(doc);
			return 0;
		}
		if (strcmp(st, "error") == 0) {
			text_into(find(prop(doc, "info.error"),
			    "localizedMessage"), msg, sizeof(msg));
			snprintf(v->err, sizeof(v->err), "%s: %s", what, msg);
			xmlFreeDoc(doc);
			return -1;
		}
		xmlFreeDoc(doc);
		if (poll_sleep(v, deadline, what) == -1)
			return -1;
	}
}

/* Runs a *_Task method call and waits for its task. */
static int
run_task(struct vsphere *v, const char *what, xmlDocPtr req)
{
	struct moref	 task;
	xmlDocPtr	 doc;
	int		 rv = -1;

	if ((doc = soap(v, what, req)) == NULL)
		return -1;
	if (read_moref(returnval(doc), &task) == -1)
		snprintf(v->err, sizeof(v->err), "%s: no task", what);
	else
		rv = wait_task(v, &task, what);
	xmlFreeDoc(doc);
	return rv;
}

/* Waits for the lease to be ready; its props() answer, or NULL. */
static xmlDocPtr
wait_lease(struct vsphere *v, const struct moref *lease)
{
	static const char *const paths[] = { "state", "info", "error", NULL };
	xmlDocPtr	 doc;
	int64_t		 deadline = now_ms() + v->op_timeout * 1000;
	char		 st[32], msg[500];

	for (;;) {
		if ((doc = props(v, lease, paths)) == NULL)
			return NULL;
		text_into(prop(doc, "state"), st, sizeof(st));
		if (strcmp(st, "ready") == 0)
			return doc;
		if (strcmp(st, "initializing") != 0) {
			text_into(find(prop(doc, "error"), "localizedMessage"),
			    msg, sizeof(msg));
			snprintf(v->err, sizeof(v->err), "the import lease is "
			    "%s%s%s", *st ? st : "in no known state",
			    *msg ? ": " : "", msg);
			xmlFreeDoc(doc);
			return NULL;
		}
		xmlFreeDoc(doc);
		if (poll_sleep(v, deadline, "waiting for the import lease") ==
		    -1)
			return NULL;
	}
}

/* ---- the import ---- */

/* A file the lease asks for: where its bytes are. */
struct src {
	char	 name[256];
	off_t	 off, size;
};

static int
upload_item(struct vsphere *v, const char *url, int create,
    const char *path, const struct src *s)
{
	struct http_req	 r;
	struct http_resp resp;
	const char	*hdrs[3];
	char		*u, *cookie, *star;
	int		 rv = -1, same, n;

	/*
	 * vCenter writes '*' for "the host you reached me at"; other URLs
	 * name the ESXi host, which the lease's ticket in the URL admits:
	 * the session cookie goes only to the host it came from.
	 */
	if ((star = strstr(url, "://*")) != NULL)
		u = xasprintf("%s%s", v->base, star + 4 + strcspn(star + 4,
		    "/"));
	else
		u = xstrdup(url);
	same = url_origin_len(u) == url_origin_len(v->base) &&
	    strncasecmp(u, v->base, url_origin_len(u)) == 0;
	if (!same && strncmp(u, "https://", 8) != 0) {
		snprintf(v->err, sizeof(v->err), "the lease names a device "
		    "URL that is not https");
		free(u);
		return -1;
	}
	cookie = same ? xasprintf("Cookie: %s", v->cookie) : NULL;
	n = 0;
	if (cookie != NULL)
		hdrs[n++] = cookie;
	if (create)
		hdrs[n++] = "Overwrite: t";
	hdrs[n] = NULL;
	memset(&r, 0, sizeof(r));
	r.method = create ? "PUT" : "POST";
	r.url = u;
	r.headers = hdrs;
	r.content_type = create ? "application/octet-stream" :
	    "application/x-vnd.vmware-streamVmdk";
	r.body_path = path;
	r.body_off = s->off;
	r.body_size = s->size;
	r.timeout = -1;
	r.abort = v->abort;
	http_resp_init(&resp);
	if (http_do(v->http, &r, &resp) == -1)
		snprintf(v->err, sizeof(v->err), "uploading %s: %s", s->name,
		    resp.aborted ? "canceled" : resp.error);
	else if (resp.status < 200 || resp.status >= 300)
		snprintf(v->err, sizeof(v->err), "uploading %s: HTTP %ld",
		    s->name, resp.status);
	else
		rv = 0;
	if (resp.aborted)
		v->aborted = 1;
	http_resp_free(&resp);
	if (cookie != NULL)
		freezero_str(cookie);
	free(u);
	return rv;
}

static void
lease_abort(struct vsphere *v, const struct moref *lease)
{
	const atomic_int *ab = v->abort;
	xmlNodePtr	 m;
	char		 keep[sizeof(v->err)];

	memcpy(keep, v->err, sizeof(keep));
	v->abort = NULL;
	if (soap_ok(v, "aborting the lease", new_call("HttpNfcLeaseAbort",
	    lease, &m)) == -1)
		log_warnx("vsphere: %s", v->err);
	v->abort = ab;
	memcpy(v->err, keep, sizeof(keep));
}

/*
 * Imports the OVF descriptor as the entity name, the files it names read
 * from path at the places srcs gives; *vm gets the imported VM.
 */
static int
import_ovf(struct vsphere *v, const char *descriptor, const char *name,
    const char *path, const struct src *srcs, size_t nsrcs, struct moref *vm)
{
	struct moref	 lease;
	xmlDocPtr	 req, spec = NULL, ldoc = NULL, doc;
	xmlNodePtr	 m, p, is, fi, du, info;
	xmlChar		*create;
	const struct src *s;
	char		 msg[500], dev[128], key[128], fpath[256], url[2048];
	char		 pct[8];
	size_t		 i, nitem = 0, done = 0;
	int		 rv = -1, leased = 0, up;

	req = new_call("CreateImportSpec", &v->ovf, &m);
	add(m, "ovfDescriptor", descriptor);
	add_moref(m, "resourcePool", &v->pool);
	add_moref(m, "datastore", &v->ds);
	p = add(m, "cisp", NULL);
	add(p, "locale", "");
	add(p, "deploymentOption", "");
	add(p, "entityName", name);
	add(p, "diskProvisioning", "thin");
	if ((spec = soap(v, "creating the import spec", req)) == NULL)
		goto cleanup;
	if ((p = find(returnval(spec), "error")) != NULL) {
		text_into(find(p, "localizedMessage"), msg, sizeof(msg));
		snprintf(v->err, sizeof(v->err), "the OVF descriptor was "
		    "refused: %s", msg);
		goto cleanup;
	}
	if ((is = child(returnval(spec), "importSpec")) == NULL) {
		snprintf(v->err, sizeof(v->err), "no import spec in the "
		    "answer");
		goto cleanup;
	}
	req = new_call("ImportVApp", &v->pool, &m);
	add_copy(m, "spec", is);
	add_moref(m, "folder", &v->folder);
	if ((doc = soap(v, "importing the vApp", req)) == NULL)
		goto cleanup;
	rv = read_moref(returnval(doc), &lease);
	xmlFreeDoc(doc);
	if (rv == -1) {
		snprintf(v->err, sizeof(v->err), "importing: no lease");
		goto cleanup;
	}
	rv = -1;
	leased = 1;
	if ((ldoc = wait_lease(v, &lease)) == NULL)
		goto cleanup;
	info = prop(ldoc, "info");
	if (read_moref(child(info, "entity"), vm) == -1) {
		snprintf(v->err, sizeof(v->err), "the lease names no VM");
		goto cleanup;
	}
	for (fi = child(returnval(spec), "fileItem"); fi != NULL;
	    fi = next_named(fi, "fileItem"))
		nitem++;
	for (fi = child(returnval(spec), "fileItem"); fi != NULL;
	    fi = next_named(fi, "fileItem")) {
		text_into(child(fi, "deviceId"), dev, sizeof(dev));
		text_into(child(fi, "path"), fpath, sizeof(fpath));
		for (s = NULL, i = 0; i < nsrcs; i++)
			if (strcmp(srcs[i].name, fpath) == 0)
				s = &srcs[i];
		for (du = child(info, "deviceUrl"); du != NULL;
		    du = next_named(du, "deviceUrl")) {
			text_into(child(du, "importKey"), key, sizeof(key));
			if (strcmp(key, dev) == 0)
				break;
		}
		if (s == NULL || du == NULL) {
			snprintf(v->err, sizeof(v->err), "the import wants %s, "
			    "which %s", fpath, s == NULL ? "the image lacks" :
			    "the lease gives no URL for");
			goto cleanup;
		}
		text_into(child(du, "url"), url, sizeof(url));
		create = xmlNodeGetContent(child(fi, "create"));
		log_info("vsphere: uploading %s (%lld bytes)", fpath,
		    (long long)s->size);
		up = upload_item(v, url, create != NULL &&
		    strcmp((const char *)create, "true") == 0, path, s);
		xmlFree(create);
		if (up == -1)
			goto cleanup;
		done++;
		snprintf(pct, sizeof(pct), "%zu", done * 100 / nitem);
		req = new_call("HttpNfcLeaseProgress", &lease, &m);
		add(m, "percent", pct);
		if (soap_ok(v, "reporting the upload's progress", req) == -1)
			goto cleanup;
	}
	if (soap_ok(v, "completing the lease", new_call(
	    "HttpNfcLeaseComplete", &lease, &m)) == -1)
		goto cleanup;
	leased = 0;
	rv = 0;
cleanup:
	if (leased)
		lease_abort(v, &lease);
	xmlFreeDoc(spec);
	xmlFreeDoc(ldoc);
	return rv;
}

/* The OVF descriptor govc writes for a lone disk (its values escaped). */
static char *
vmdk_ovf(const char *file, const char *name, int64_t size, int64_t cap)
{
	char	*f = xml_escape(file), *n = xml_escape(name), *s;

	s = xasprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "
	    "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" "
	    "xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	    "CIM_ResourceAllocationSettingData\" "
	    "xmlns:vmw=\"http://www.vmware.com/schema/ovf\" "
	    "xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	    "CIM_VirtualSystemSettingData\">\n"
	    "<References><File ovf:href=\"%s\" ovf:id=\"file1\" "
	    "ovf:size=\"%" PRId64 "\"/></References>\n"
	    "<DiskSection><Info>Virtual disk information</Info>"
	    "<Disk ovf:capacity=\"%" PRId64 "\" "
	    "ovf:capacityAllocationUnits=\"byte\" ovf:diskId=\"vmdisk1\" "
	    "ovf:fileRef=\"file1\" ovf:format=\"http://www.vmware.com/"
	    "interfaces/specifications/vmdk.html#streamOptimized\" "
	    "ovf:populatedSize=\"0\"/></DiskSection>\n"
	    "<VirtualSystem ovf:id=\"%s\"><Info>A virtual machine</Info>"
	    "<Name>%s</Name>"
	    "<OperatingSystemSection ovf:id=\"100\" "
	    "vmw:osType=\"other26xLinux64Guest\"><Info>The kind of installed "
	    "guest operating system</Info></OperatingSystemSection>\n"
	    "<VirtualHardwareSection><Info>Virtual hardware requirements"
	    "</Info><System><vssd:ElementName>Virtual Hardware Family"
	    "</vssd:ElementName><vssd:InstanceID>0</vssd:InstanceID>"
	    "<vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>"
	    "<vssd:VirtualSystemType>vmx-07</vssd:VirtualSystemType></System>\n"
	    "<Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>"
	    "<rasd:Description>Number of Virtual CPUs</rasd:Description>"
	    "<rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>"
	    "<rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3"
	    "</rasd:ResourceType><rasd:VirtualQuantity>1"
	    "</rasd:VirtualQuantity></Item>\n"
	    "<Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>"
	    "<rasd:Description>Memory Size</rasd:Description>"
	    "<rasd:ElementName>1024MB of memory</rasd:ElementName>"
	    "<rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4"
	    "</rasd:ResourceType><rasd:VirtualQuantity>1024"
	    "</rasd:VirtualQuantity></Item>\n"
	    "<Item><rasd:Address>0</rasd:Address><rasd:Description>SCSI "
	    "Controller</rasd:Description><rasd:ElementName>SCSI Controller 0"
	    "</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID>"
	    "<rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>"
	    "<rasd:ResourceType>6</rasd:ResourceType></Item>\n"
	    "<Item><rasd:AddressOnParent>0</rasd:AddressOnParent>"
	    "<rasd:ElementName>Hard Disk 1</rasd:ElementName>"
	    "<rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>"
	    "<rasd:InstanceID>9</rasd:InstanceID><rasd:Parent>3</rasd:Parent>"
	    "<rasd:ResourceType>17</rasd:ResourceType>"
	    "<vmw:Config ovf:required=\"false\" "
	    "vmw:key=\"backing.writeThrough\" vmw:value=\"false\"/></Item>\n"
	    "</VirtualHardwareSection></VirtualSystem></Envelope>\n",
	    f, size, cap, n, n, n);
	free(f);
	free(n);
	return s;
}

static uint32_t
le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

int
vsphere_import_vmdk(struct vsphere *v, const char *path, const char *name)
{
	static const char *const dpaths[] = { "config.hardware.device", NULL };
	unsigned char	 h[512];
	struct stat	 st;
	struct moref	 vm;
	struct src	 s;
	xmlDocPtr	 doc = NULL, req;
	xmlNodePtr	 m, d, spec, dc, val;
	xmlChar		*t;
	char		*ovf;
	int64_t		 cap;
	int		 fd, n = 0, rv = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(v->err, sizeof(v->err), "%s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	/* What govc checks: the sparse magic and the compressed flag. */
	if (n != (int)sizeof(h) || le32(h) != 0x564d444b ||
	    (le32(h + 8) & (1u << 16)) == 0) {
		snprintf(v->err, sizeof(v->err), "the VMDK is not "
		    "streamOptimized (convert it with qemu-img convert -O vmdk "
		    "-o subformat=streamOptimized)");
		return -1;
	}
	cap = (int64_t)(le32(h + 12) | (uint64_t)le32(h + 16) << 32) * 512;
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s.vmdk", name);
	s.size = st.st_size;
	ovf = vmdk_ovf(s.name, name, st.st_size, cap);
	rv = import_ovf(v, ovf, name, path, &s, 1, &vm);
	free(ovf);
	if (rv == -1)
		return -1;
	rv = -1;
	/* The import made a VM: keep its disk, destroy the rest. */
	if ((doc = props(v, &vm, dpaths)) == NULL)
		return -1;
	val = prop(doc, "config.hardware.device");
	req = new_call("ReconfigVM_Task", &vm, &m);
	spec = add(m, "spec", NULL);
	n = 0;
	for (d = child(val, NULL); d != NULL; d = d->next) {
		if (d->type != XML_ELEMENT_NODE || (t = xsi_type(d)) == NULL)
			continue;
		if (strcmp((const char *)t, "VirtualDisk") == 0) {
			dc = add(spec, "deviceChange", NULL);
			add(dc, "operation", "remove");
			add_copy(dc, "device", d);
			n++;
		}
		xmlFree(t);
	}
	if (n == 0) {
		xmlFreeDoc(req);
		snprintf(v->err, sizeof(v->err), "the imported VM has no disk");
		goto cleanup;
	}
	if (run_task(v, "detaching the disk", req) == -1)
		goto cleanup;
	if (run_task(v, "destroying the import's VM",
	    new_call("Destroy_Task", &vm, &m)) == -1)
		goto cleanup;
	rv = 0;
cleanup:
	xmlFreeDoc(doc);
	return rv;
}

static int64_t
octal(const unsigned char *p, size_t n)
{
	int64_t	 v = 0;
	size_t	 i;

	for (i = 0; i < n && (p[i] == ' ' || p[i] == '\0'); i++)
		;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (p[i] - '0');
	return v;
}

int
vsphere_import_ova(struct vsphere *v, const char *path, const char *name)
{
	unsigned char	 h[512];
	struct src	*srcs = NULL;
	struct moref	 vm;
	char		*ovf = NULL, nm[256];
	off_t		 off = 0, ovf_off = -1, ovf_size = 0;
	size_t		 n = 0;
	int64_t		 size;
	int		 fd, rv = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(v->err, sizeof(v->err), "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	srcs = xcalloc(OVA_MEMBERS, sizeof(*srcs));
	/* An OVA is a tar: its members are uploaded in place. */
	for (;;) {
		if (pread(fd, h, sizeof(h), off) != (ssize_t)sizeof(h))
			break;
		if (h[0] == '\0')
			break;
		if (memcmp(h + 257, "ustar", 5) != 0 || n == OVA_MEMBERS) {
			snprintf(v->err, sizeof(v->err), "the OVA is not a "
			    "tar archive of at most %d files", OVA_MEMBERS);
			goto cleanup;
		}
		size = octal(h + 124, 12);
		snprintf(nm, sizeof(nm), "%.100s", (const char *)h);
		if ((h[156] == '0' || h[156] == '\0') && size > 0 &&
		    name_is_safe(nm)) {
			snprintf(srcs[n].name, sizeof(srcs[n].name), "%s", nm);
			srcs[n].off = off + 512;
			srcs[n].size = size;
			if (ovf_off == -1 && strlen(nm) > 4 &&
			    strcmp(nm + strlen(nm) - 4, ".ovf") == 0) {
				ovf_off = off + 512;
				ovf_size = size;
			}
			n++;
		}
		off += 512 + (size + 511) / 512 * 512;
	}
	if (ovf_off == -1 || ovf_size > OVF_MAX) {
		snprintf(v->err, sizeof(v->err), "the OVA holds no OVF "
		    "descriptor (of at most %d bytes)", OVF_MAX);
		goto cleanup;
	}
	ovf = xmalloc(ovf_size + 1);
	if (pread(fd, ovf, ovf_size, ovf_off) != ovf_size) {
		snprintf(v->err, sizeof(v->err), "cannot read the OVF "
		    "descriptor");
		goto cleanup;
	}
	ovf[ovf_size] = '\0';
	rv = import_ovf(v, ovf, name, path, srcs, n, &vm);
cleanup:
	close(fd);
	free(ovf);
	free(srcs);
	return rv;
}
