/*
 * xml.c's XML-RPC both ways: a call Koji's hub (Python's xmlrpc) reads as
 * sent, answers and faults as Python's xmlrpc writes them, and the
 * answers that must be refused (not XML, not a methodResponse, a value of
 * no known type, nesting past the limit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "util.h"
#include "xml.h"

static void
test_call(void **state)
{
	json_object	*p, *back = NULL;
	const char	*want = "[\"a<&>\",7,5000000000,true,null,"
	    "{\"k\":[1.5,\"x\"]}]";
	char		*doc, fault[128];
	size_t		 len = 0;

	p = json_tokener_parse(want);
	doc = xml_rpc_call("uploadFile", p, &len);
	assert_non_null(doc);
	assert_int_equal(len, strlen(doc));
	assert_non_null(strstr(doc, "<methodName>uploadFile</methodName>"));
	assert_non_null(strstr(doc, "<string>a&lt;&amp;&gt;</string>"));
	assert_non_null(strstr(doc, "<i8>5000000000</i8>"));
	assert_non_null(strstr(doc, "<int>7</int>"));
	assert_non_null(strstr(doc, "<nil/>"));
	free(doc);
	json_object_put(p);
	/* An answer wraps one value: read what a call would carry. */
	doc = xstrdup("<?xml version='1.0'?><methodResponse><params><param>"
	    "<value><array><data><value><string>a&lt;&amp;&gt;</string>"
	    "</value><value><int>7</int></value><value><i8>5000000000</i8>"
	    "</value><value><boolean>1</boolean></value><value><nil/>"
	    "</value><value><struct><member><name>k</name><value><array>"
	    "<data><value><double>1.5</double></value><value>x</value>"
	    "</data></array></value></member></struct></value></data>"
	    "</array></value></param></params></methodResponse>");
	if (xml_rpc_answer(doc, strlen(doc), &back, fault,
	    sizeof(fault)) != 0)
		fail_msg("%s", fault);
	assert_string_equal(json_object_to_json_string_ext(back,
	    JSON_C_TO_STRING_PLAIN), want);
	json_object_put(back);
	free(doc);
}

static void
test_fault(void **state)
{
	json_object	*v = NULL;
	char		 fault[128];
	const char	*doc = "<?xml version='1.0'?>\n<methodResponse>\n"
	    "<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n"
	    "<value><int>1000</int></value>\n</member>\n<member>\n"
	    "<name>faultString</name>\n<value><string>koji.GenericError: "
	    "bad</string></value>\n</member>\n</struct></value>\n</fault>\n"
	    "</methodResponse>\n";

	assert_int_equal(xml_rpc_answer(doc, strlen(doc), &v, fault,
	    sizeof(fault)), 1);
	assert_null(v);
	assert_string_equal(fault, "1000: koji.GenericError: bad");
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"not xml",
		"<methodCall><params/></methodCall>",
		"<methodResponse><params><param><value><date>x</date></value>"
		    "</param></params></methodResponse>",
		"<methodResponse><params><param><value><int>1x</int></value>"
		    "</param></params></methodResponse>",
		"<methodResponse><params/></methodResponse>",
	};
	struct buf	 deep;
	json_object	*v;
	char		 fault[128];
	size_t		 i;

	for (i = 0; i < nitems(bad); i++) {
		v = NULL;
		assert_int_equal(xml_rpc_answer(bad[i], strlen(bad[i]), &v,
		    fault, sizeof(fault)), -1);
		assert_null(v);
		assert_true(fault[0] != '\0');
	}
	buf_init(&deep);
	buf_addstr(&deep, "<methodResponse><params><param>");
	for (i = 0; i < 70; i++)
		buf_addstr(&deep, "<value><array><data>");
	for (i = 0; i < 70; i++)
		buf_addstr(&deep, "</data></array></value>");
	buf_addstr(&deep, "</param></params></methodResponse>");
	assert_int_equal(xml_rpc_answer(deep.data, deep.len, &v, fault,
	    sizeof(fault)), -1);
	buf_free(&deep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call),
		cmocka_unit_test(test_fault),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
