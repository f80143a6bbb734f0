/*
 * ids.c and inputs.c: stage ids as osbuild computes them, and the
 * references of inputs. The expected ids were computed with Python's
 * hashlib and json.dumps(sort_keys=True) over the parts osbuild hashes
 * (type, build pipeline id, previous stage id, options, source epoch,
 * {input name: input id}).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "builder/build.h"

#define ID_BUILD \
	"8cdb4bcf244fdf2cf40a9b3df5b7025a7e79322ab4bf6ea65d74582be094d491"
#define ID_OS1 \
	"65eee949ac1b309e1747dead3b0ce27eb503e55360b9bb88b29f515509b66419"
#define ID_OS2 \
	"c98fbc8db9a0ab27edc0a25d0681170fcd52eeb2538ce092a59361f528cda5d2"

static const char manifest[] =
	"{\"version\":\"2\",\"pipelines\":["
	"{\"name\":\"build\",\"stages\":[{\"type\":\"org.osbuild.hostname\","
	"\"options\":{\"hostname\":\"b\"}}]},"
	"{\"name\":\"os\",\"build\":\"name:build\","
	"\"source-epoch\":1700000000,\"stages\":["
	"{\"type\":\"org.osbuild.hostname\",\"options\":{\"hostname\":"
	"\"os\"}},"
	"{\"type\":\"org.osbuild.xz\",\"options\":{\"filename\":\"x.xz\"},"
	"\"inputs\":{\"file\":{\"type\":\"org.osbuild.files\","
	"\"origin\":\"org.osbuild.pipeline\",\"references\":"
	"{\"name:build\":{\"file\":\"x\"}}}}}]}]}";

static struct manifest *
load(const char *text)
{
	json_object	*errors = json_object_new_array();
	struct manifest	*m;

	m = manifest_load(text, strlen(text), errors);
	if (m == NULL)
		fail_msg("%s", json_object_to_json_string(errors));
	json_object_put(errors);
	return m;
}

static void
test_ids(void **state)
{
	struct manifest	*m = load(manifest);

	(void)state;
	assert_int_equal(m->np, 2);
	assert_string_equal(m->p[0].stages[0].id, ID_BUILD);
	assert_string_equal(m->p[0].id, ID_BUILD);
	assert_string_equal(m->p[1].stages[0].id, ID_OS1);
	assert_string_equal(m->p[1].stages[1].id, ID_OS2);
	assert_string_equal(m->p[1].id, ID_OS2);
	manifest_free(m);
}

static void
test_refs(void **state)
{
	struct manifest	*m = load(manifest);
	json_object	*in, *r;
	const char	**sums;
	size_t		 n;

	(void)state;
	assert_int_equal(manifest_find(m, "os"), 1);
	assert_int_equal(manifest_find(m, "nope"), -1);
	assert_int_equal(manifest_ref(m, "name:build"), 0);
	assert_int_equal(manifest_ref(m, "build"), -1);
	assert_int_equal(manifest_ref(m, NULL), -1);
	assert_null(manifest_source_url(m, "sha256:00"));

	/* The array forms normalise to the object form. */
	in = json_tokener_parse("{\"references\":[\"name:build\","
	    "{\"id\":\"name:os\",\"options\":{\"file\":\"f\"}},7]}");
	r = input_refs(m, in, 0);
	assert_string_equal(json_object_to_json_string_ext(r,
	    JSON_C_TO_STRING_PLAIN),
	    "{\"name:build\":{},\"name:os\":{\"file\":\"f\"}}");
	json_object_put(r);
	/* Resolved: pipeline names become their ids. */
	r = input_refs(m, in, 1);
	assert_string_equal(json_object_to_json_string_ext(r,
	    JSON_C_TO_STRING_PLAIN),
	    "{\"" ID_BUILD "\":{},\"" ID_OS2 "\":{\"file\":\"f\"}}");
	json_object_put(r);
	sums = input_sources(in, &n);
	assert_int_equal(n, 2);
	assert_string_equal(sums[0], "name:build");
	assert_string_equal(sums[1], "name:os");
	free(sums);
	json_object_put(in);

	in = json_tokener_parse("{\"references\":\"name:build\"}");
	assert_null(input_sources(in, &n));
	assert_int_equal(n, 0);
	json_object_put(in);
	manifest_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
