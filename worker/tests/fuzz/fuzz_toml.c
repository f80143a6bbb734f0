/* fuzz-sources: worker/lib/util.c worker/lib/log.c worker/lib/toml.c worker/daemon/config.c */
/*
 * libFuzzer target for the TOML parser and the configuration built on it:
 * any input either parses into a well-formed tree or fails with a place,
 * and any configuration that loads holds only values in range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "toml.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_toml: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

static size_t
check_tree(const struct toml_value *v, int in_table, size_t depth)
{
	size_t	 i, n = 1;

	CHECK(depth < 4096);
	CHECK(v->line >= 1 && v->col >= 1);
	CHECK(in_table ? v->key != NULL : v->key == NULL);
	switch (v->kind) {
	case TOML_TABLE:
		for (i = 0; i < v->nitems; i++) {
			/* Keys are unique: a lookup finds this very member. */
			CHECK(toml_get(v, v->items[i]->key) == v->items[i]);
			n += check_tree(v->items[i], 1, depth + 1);
		}
		break;
	case TOML_ARRAY:
		for (i = 0; i < v->nitems; i++)
			n += check_tree(v->items[i], 0, depth + 1);
		break;
	case TOML_STRING:
		CHECK(v->str != NULL);
		break;
	case TOML_BOOL:
		CHECK(v->num == 0 || v->num == 1);
		break;
	case TOML_INT:
		break;
	default:
		CHECK(!"unknown kind");
	}
	CHECK(v->nitems <= TOML_MAX_ITEMS);
	return n;
}

static void
check_config(const struct config *c)
{
	int	 i;

	CHECK(c->base_path != NULL && c->dnf_json != NULL);
	CHECK(c->deployment_channel != NULL);
	CHECK(c->azure.upload_threads > 0);
	CHECK(strcmp(c->osbuild_executor.type, "host") == 0 ||
	    strcmp(c->osbuild_executor.type, "aws.ec2") == 0 ||
	    strcmp(c->osbuild_executor.type, "qemu.kvm") == 0);
	for (i = 0; i < c->nkoji; i++) {
		CHECK(c->koji[i].host != NULL);
		CHECK(c->koji[i].relax_timeout_factor >= 0);
	}
	CHECK(c->worker.heartbeat_interval >= 1 &&
	    c->worker.heartbeat_interval <= 60);
	CHECK(c->worker.poll_interval >= 0);
	CHECK(c->worker.request_timeout >= 1);
	CHECK(c->worker.max_body >= 1024);
	CHECK(c->worker.cache_directory[0] == '/');
	CHECK(c->worker.osbuild[0] != '\0' && c->worker.arch[0] != '\0');
	CHECK((c->worker.job_types == NULL) == (c->worker.njob_types == 0));
	for (i = 0; i < c->worker.njob_types; i++)
		CHECK(c->worker.job_types[i][0] != '\0');
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 fd = -1;
	static char		 path[64];
	struct toml_error	 e;
	struct toml_value	*root;
	struct config		*c;
	char			 err[512];
	int			 parsed;

	root = toml_parse((const char *)data, size, &e);
	parsed = root != NULL;
	if (parsed) {
		CHECK(root->kind == TOML_TABLE && root->key == NULL);
		check_tree(root, 0, 0);
		toml_free(root);
	} else {
		CHECK(e.line >= 1 && e.col >= 1 && e.reason[0] != '\0');
		CHECK(strncmp(e.msg, "line ", 5) == 0);
	}

	/* config_load reads a path: hand it an in-memory file. */
	if (fd == -1) {
		fd = memfd_create("fuzz_toml", 0);
		CHECK(fd != -1);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
	c = config_load(path, 0, err, sizeof(err));
	if (c != NULL) {
		CHECK(parsed);
		check_config(c);
		config_free(c);
	} else {
		CHECK(strncmp(err, path, strlen(path)) == 0);
		/* Past "PATH:" comes "LINE:COL: " or, unparsed, the reason. */
		CHECK(err[strlen(path)] == ':');
	}
	return 0;
}
