/*
 * Reading the XML answers of AWS and Azure Storage with libxml2, never
 * fetching anything (no network, no DTD, no entities), and escaping text
 * for the XML bodies we send; XML-RPC calls and answers (Koji). Built
 * without libxml2, nothing is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#if __has_include(<libxml/parser.h>)
#include <libxml/parser.h>
#include <libxml/tree.h>
#define HAVE_LIBXML 1
#endif

#include "jsonutil.h"
#include "log.h"
#include "util.h"
#include "xml.h"

#ifdef HAVE_LIBXML
static xmlDocPtr
xml_parse(const char *data, size_t len)
{
	if (data == NULL || len == 0 || len > 16 * 1024 * 1024)
		return NULL;
	/* No network, no entity expansion, no DTD loading, no noise. */
	return xmlReadMemory(data, (int)len, NULL, NULL, XML_PARSE_NONET |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
}

static xmlNodePtr
xml_first(xmlNodePtr n, const char *name)
{
	xmlNodePtr	 c, r;

	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)n->name, name) == 0)
			return n;
		if ((c = n->children) != NULL && (r = xml_first(c, name)))
			return r;
	}
	return NULL;
}

static char *
node_text(xmlNodePtr n)
{
	xmlChar	*t;
	char	*s;

	if (n == NULL)
		return NULL;
	t = xmlNodeGetContent(n);
	s = xstrdup(t != NULL ? (const char *)t : "");
	xmlFree(t);
	return s;
}

int
xml_available(void)
{
	return 1;
}

char *
xml_find(const char *data, size_t len, const char *name)
{
	xmlDocPtr	 doc;
	char		*s;

	if ((doc = xml_parse(data, len)) == NULL)
		return NULL;
	s = node_text(xml_first(xmlDocGetRootElement(doc), name));
	xmlFreeDoc(doc);
	return s;
}

int
xml_error(const char *data, size_t len, char *msg, size_t msglen,
    char *code, size_t codelen)
{
	xmlDocPtr	 doc;
	xmlNodePtr	 err;
	char		*c = NULL, *m = NULL;
	int		 rv = -1;

	if ((doc = xml_parse(data, len)) == NULL)
		return -1;
	err = xml_first(xmlDocGetRootElement(doc), "Error");
	if (err != NULL) {
		c = node_text(xml_first(err->children, "Code"));
		m = node_text(xml_first(err->children, "Message"));
	}
	if (c != NULL) {
		snprintf(msg, msglen, "%s: %s", c, m ? m : "(no message)");
		if (code != NULL)
			snprintf(code, codelen, "%s", c);
		rv = 0;
	}
	free(c);
	free(m);
	xmlFreeDoc(doc);
	return rv;
}
#define RPC_DEPTH	64
#define RPC_ITEMS	100000

/* Adds v as a <value> child of parent; -1 for what XML-RPC cannot carry. */
static int
rpc_value(xmlNodePtr parent, json_object *v, int depth)
{
	xmlNodePtr	 val, c, m;
	char		 num[64];
	size_t		 i, n;

	if (depth > RPC_DEPTH)
		return -1;
	val = xmlNewChild(parent, NULL, (const xmlChar *)"value", NULL);
	switch (json_object_get_type(v)) {
	case json_type_null:
		xmlNewChild(val, NULL, (const xmlChar *)"nil", NULL);
		break;
	case json_type_boolean:
		xmlNewTextChild(val, NULL, (const xmlChar *)"boolean",
		    (const xmlChar *)(json_object_get_boolean(v) ? "1" : "0"));
		break;
	case json_type_int:
		snprintf(num, sizeof(num), "%" PRId64,
		    json_object_get_int64(v));
		xmlNewTextChild(val, NULL, (const xmlChar *)
		    (json_object_get_int64(v) == (int32_t)json_object_get_int64(v)
		    ? "int" : "i8"), (const xmlChar *)num);
		break;
	case json_type_double:
		snprintf(num, sizeof(num), "%.17g", json_object_get_double(v));
		xmlNewTextChild(val, NULL, (const xmlChar *)"double", (const xmlChar *)num);
		break;
	case json_type_string:
		xmlNewTextChild(val, NULL, (const xmlChar *)"string",
		    (const xmlChar *)json_object_get_string(v));
		break;
	case json_type_array:
		c = xmlNewChild(xmlNewChild(val, NULL, (const xmlChar *)"array", NULL),
		    NULL, (const xmlChar *)"data", NULL);
		n = json_object_array_length(v);
		for (i = 0; i < n; i++)
			if (rpc_value(c, json_object_array_get_idx(v, i),
			    depth + 1) == -1)
				return -1;
		break;
	case json_type_object:
		c = xmlNewChild(val, NULL, (const xmlChar *)"struct", NULL);
		json_object_object_foreach(v, key, mv) {
			m = xmlNewChild(c, NULL, (const xmlChar *)"member", NULL);
			xmlNewTextChild(m, NULL, (const xmlChar *)"name", (const xmlChar *)key);
			if (rpc_value(m, mv, depth + 1) == -1)
				return -1;
		}
		break;
	default:
		return -1;
	}
	return 0;
}

char *
xml_rpc_call(const char *method, json_object *params, size_t *len)
{
	xmlDocPtr	 doc;
	xmlNodePtr	 root, ps;
	xmlChar		*mem = NULL;
	char		*out = NULL;
	size_t		 i, n;
	int		 sz = 0;

	doc = xmlNewDoc((const xmlChar *)"1.0");
	root = xmlNewNode(NULL, (const xmlChar *)"methodCall");
	xmlDocSetRootElement(doc, root);
	xmlNewTextChild(root, NULL, (const xmlChar *)"methodName", (const xmlChar *)method);
	ps = xmlNewChild(root, NULL, (const xmlChar *)"params", NULL);
	n = params != NULL ? json_object_array_length(params) : 0;
	for (i = 0; i < n; i++)
		if (rpc_value(xmlNewChild(ps, NULL, (const xmlChar *)"param", NULL),
		    json_object_array_get_idx(params, i), 0) == -1)
			goto cleanup;
	xmlDocDumpMemoryEnc(doc, &mem, &sz, "UTF-8");
	if (mem != NULL && sz > 0) {
		out = xstrndup((const char *)mem, sz);
		*len = sz;
	}
cleanup:
	xmlFree(mem);
	xmlFreeDoc(doc);
	return out;
}

/* The first element child of n, or NULL. */
static xmlNodePtr
first_elem(xmlNodePtr n)
{
	for (n = n != NULL ? n->children : NULL; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static int
is(xmlNodePtr n, const char *name)
{
	return n != NULL && strcmp((const char *)n->name, name) == 0;
}

/*
 * A <value> as JSON into *out (NULL is nil: json-c's null); 0, or -1 when
 * malformed.
 */
static int
rpc_read(xmlNodePtr val, int depth, size_t *items, json_object **out)
{
	xmlNodePtr	 t, c, nm, mv;
	json_object	*o, *x;
	char		*text, *end;
	long long	 ll;

	*out = NULL;
	if (!is(val, "value") || depth > RPC_DEPTH || ++*items > RPC_ITEMS)
		return -1;
	if ((t = first_elem(val)) == NULL) {
		/* No type: a string. */
		text = node_text(val);
		*out = json_object_new_string(text);
		free(text);
		return 0;
	}
	if (is(t, "nil"))
		return 0;
	if (is(t, "array")) {
		o = json_object_new_array();
		if (!is(c = first_elem(t), "data")) {
			json_object_put(o);
			return -1;
		}
		for (c = c->children; c != NULL; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			if (rpc_read(c, depth + 1, items, &x) == -1) {
				json_object_put(o);
				return -1;
			}
			json_object_array_add(o, x);
		}
		*out = o;
		return 0;
	}
	if (is(t, "struct")) {
		o = json_object_new_object();
		for (c = t->children; c != NULL; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			nm = first_elem(c);
			mv = nm != NULL ? nm->next : NULL;
			while (mv != NULL && mv->type != XML_ELEMENT_NODE)
				mv = mv->next;
			if (!is(c, "member") || !is(nm, "name") ||
			    rpc_read(mv, depth + 1, items, &x) == -1) {
				json_object_put(o);
				return -1;
			}
			text = node_text(nm);
			json_object_object_add(o, text, x);
			free(text);
		}
		*out = o;
		return 0;
	}
	text = node_text(t);
	o = NULL;
	if (is(t, "int") || is(t, "i4") || is(t, "i8")) {
		errno = 0;
		ll = strtoll(text, &end, 10);
		if (*text && *end == '\0' && errno == 0)
			o = json_object_new_int64(ll);
	} else if (is(t, "boolean")) {
		if (strcmp(text, "0") == 0 || strcmp(text, "1") == 0)
			o = json_object_new_boolean(*text == '1');
	} else if (is(t, "double")) {
		double d = strtod(text, &end);

		if (*text && *end == '\0')
			o = json_object_new_double(d);
	} else if (is(t, "string") || is(t, "base64") ||
	    is(t, "dateTime.iso8601"))
		o = json_object_new_string(text);
	free(text);
	*out = o;
	return o != NULL ? 0 : -1;
}

int
xml_rpc_answer(const char *data, size_t len, json_object **out,
    char *fault, size_t faultlen)
{
	xmlDocPtr	 doc;
	xmlNodePtr	 root, c;
	json_object	*v = NULL;
	const char	*fs;
	int64_t		 fc = 0;
	size_t		 items = 0;
	int		 rv = -1;

	*out = NULL;
	if ((doc = xml_parse(data, len)) == NULL) {
		snprintf(fault, faultlen, "the answer is not XML");
		return -1;
	}
	root = xmlDocGetRootElement(doc);
	c = first_elem(root);
	if (!is(root, "methodResponse") || c == NULL) {
		snprintf(fault, faultlen, "the answer is not an XML-RPC "
		    "methodResponse");
		goto cleanup;
	}
	if (is(c, "fault")) {
		if (rpc_read(first_elem(c), 0, &items, &v) == -1)
			v = NULL;
		fs = v != NULL ? json_get_str(v, "faultString") : NULL;
		json_get_int(v, "faultCode", &fc);
		snprintf(fault, faultlen, "%" PRId64 ": %s", fc,
		    fs != NULL ? fs : "(no faultString)");
		json_object_put(v);
		rv = 1;
		goto cleanup;
	}
	if (!is(c, "params") || !is(c = first_elem(c), "param") ||
	    rpc_read(first_elem(c), 0, &items, &v) == -1) {
		snprintf(fault, faultlen, "the XML-RPC answer holds no "
		    "readable value");
		goto cleanup;
	}
	*out = v;
	rv = 0;
cleanup:
	xmlFreeDoc(doc);
	return rv;
}
#else
int
xml_available(void)
{
	return 0;
}

char *
xml_find(const char *data, size_t len, const char *name)
{
	log_warnx("built without libxml2: cannot read AWS answers");
	return NULL;
}

int
xml_error(const char *data, size_t len, char *msg, size_t msglen,
    char *code, size_t codelen)
{
	return -1;
}

char *
xml_rpc_call(const char *method, json_object *params, size_t *len)
{
	return NULL;
}

int
xml_rpc_answer(const char *data, size_t len, json_object **out,
    char *fault, size_t faultlen)
{
	*out = NULL;
	snprintf(fault, faultlen, "built without libxml2");
	return -1;
}
#endif

char *
xml_escape(const char *s)
{
	struct buf	 b;

	buf_init(&b);
	buf_add(&b, "", 0);
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_addstr(&b, "&amp;"); break;
		case '<': buf_addstr(&b, "&lt;"); break;
		case '>': buf_addstr(&b, "&gt;"); break;
		case '"': buf_addstr(&b, "&quot;"); break;
		case '\'': buf_addstr(&b, "&apos;"); break;
		default: buf_add(&b, s, 1);
		}
	}
	return buf_release(&b);
}
