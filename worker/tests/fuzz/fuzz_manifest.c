/* fuzz-sources: worker/builder/manifest.c worker/builder/schema.c worker/builder/stages.c worker/builder/inputs.c worker/builder/ids.c worker/builder/pyjson.c worker/lib/jsonutil.c worker/lib/util.c worker/lib/log.c */
/*
 * libFuzzer target for ib-build's manifest validation: a manifest comes
 * from the composer (through the osbuild job), so manifest_load must
 * refuse or accept any text without a crash, a leak or undefined
 * behaviour (the numbers of org.osbuild.users, sizes, offsets), and a
 * refusal must come with at least one {message, path} error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "builder/build.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_manifest: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/*
 * The stages never run here; these stand in for them so that the real
 * stage table in stages.c links without the builder. A stage added to the
 * table needs a line here.
 */
#define NOT_RUN(f) int f(struct stage_run *r) { abort(); }
NOT_RUN(stage_debian_install)
NOT_RUN(stage_hostname)
NOT_RUN(stage_users)
NOT_RUN(stage_files)
NOT_RUN(stage_systemd)
NOT_RUN(stage_fstab)
NOT_RUN(stage_kernel_cmdline)
NOT_RUN(stage_cloud_init)
NOT_RUN(stage_disk)
NOT_RUN(stage_qemu)
NOT_RUN(stage_xz)
NOT_RUN(stage_zstd)

char *
store_source_path(const char *dir, const char *sum)
{
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object	*errors = json_object_new_array();
	struct manifest	*m;
	size_t		 i;

	m = manifest_load((const char *)data, size, errors);
	if (m == NULL) {
		CHECK(json_object_array_length(errors) > 0);
		for (i = 0; i < json_object_array_length(errors); i++) {
			json_object *e = json_object_array_get_idx(errors, i);

			CHECK(json_object_is_type(json_object_object_get(e,
			    "message"), json_type_string));
			CHECK(json_object_is_type(json_object_object_get(e,
			    "path"), json_type_array));
		}
	} else
		manifest_free(m);
	json_object_put(errors);
	return 0;
}
