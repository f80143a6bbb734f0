/* fuzz-sources: worker/cloud/cloud.c worker/lib/http.c worker/lib/backoff.c worker/lib/jsonutil.c worker/lib/util.c worker/lib/log.c */
/*
 * libFuzzer target for a token endpoint's answer (cloud_token_take: the
 * GCP and Azure targets' OAuth answers): any body is taken or refused
 * without a crash or undefined behaviour (expires_in near INT64_MAX), a
 * token taken has no control byte and expires within a day, and the body
 * is zeroed either way (it held the token).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "http.h"
#include "util.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_token: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cloud_token	 t = { NULL, 0 };
	struct http_resp	 r;
	const char		*p;
	int64_t			 now = now_ms() / 1000;
	size_t			 i;

	http_resp_init(&r);
	buf_add(&r.body, data, size);
	if (cloud_token_take(&t, &r) == 0) {
		CHECK(t.value != NULL && *t.value != '\0');
		for (p = t.value; *p != '\0'; p++)
			CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
		CHECK(t.exp > now && t.exp <= now + 86400 + 2);
	} else
		CHECK(t.value == NULL);
	for (i = 0; i < r.body.len; i++)
		CHECK(r.body.data[i] == '\0');
	cloud_token_clear(&t);
	http_resp_free(&r);
	return 0;
}
