/* fuzz-sources: worker/lib/util.c worker/lib/log.c */
/*
 * libFuzzer target for url_redact and text_redact_urls, which every URL
 * from a job or a server passes through before a log line or an error
 * result. Checks what they promise: the redacted URL has no control
 * byte, keeps nothing after its first '?' or '#' but "<redacted>", has no
 * userinfo but "<redacted>@", stays bounded; text without "://" passes
 * through unchanged; and each URL found in a text is redacted alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_url_redact: %s:%d: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

static void
check_authority(const char *auth)
{
	const char	*end = auth + strcspn(auth, "/?#");
	const char	*at = memchr(auth, '@', (size_t)(end - auth));

	if (at != NULL) {
		CHECK(strncmp(auth, "<redacted>@", 11) == 0);
		CHECK(at == auth + 10);
	}
}

static void
check_redacted(const char *in, const char *out)
{
	const char	*p;
	char		*head;
	size_t		 n;

	for (p = out; *p != '\0'; p++)
		CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	n = strlen(out);
	/* The marker may stand for one byte ("@"): at most 11 times longer. */
	CHECK(n <= 11 * strlen(in) + sizeof("?<redacted>"));
	CHECK(n <= URL_REDACT_MAX + 32);
	/* After the first '?' or '#': only the marker. */
	if ((p = strpbrk(out, "?#")) != NULL)
		CHECK(strcmp(p + 1, "<redacted>") == 0);
	/* An authority (the leading one without a scheme, and each after a
	 * "://" before the query) holds an '@' only right after the marker. */
	head = xstrndup(out, strcspn(out, "?#"));
	p = strstr(head, "://");
	if (p == NULL || strcspn(head, "/") < (size_t)(p - head))
		check_authority(head);
	for (; p != NULL; p = strstr(p + 3, "://"))
		check_authority(p + 3);
	free(head);
}

/* No byte that ends a URL in a text (see text_redact_urls). */
static int
plain(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '\'' ||
		    *s == '<' || *s == '>' || *s == 0x7f)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*in, *out, *text;

	in = xstrndup((const char *)data, size);
	out = url_redact(in);
	check_redacted(in, out);
	/* Redacting twice changes nothing more. */
	text = url_redact(out);
	CHECK(strcmp(text, out) == 0);
	free(text);
	free(out);

	text = text_redact_urls(in);
	if (strstr(in, "://") == NULL)
		CHECK(strcmp(text, in) == 0);
	/* A URL as the whole text is redacted as url_redact does. */
	if (strncmp(in, "http://", 7) == 0 && plain(in)) {
		out = url_redact(in);
		CHECK(strcmp(text, out) == 0);
		free(out);
	}
	free(text);
	free(in);
	return 0;
}
