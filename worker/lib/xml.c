/*
 * Reading the XML answers of AWS and Azure Storage with libxml2, never
 * fetching anything (no network, no DTD, no entities), and escaping text
 * for the XML bodies we send. Built without libxml2, nothing is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<libxml/parser.h>)
#include <libxml/parser.h>
#include <libxml/tree.h>
#define HAVE_LIBXML 1
#endif

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
