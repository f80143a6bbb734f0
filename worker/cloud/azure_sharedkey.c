/*
 * Azure Storage's SharedKey scheme, written from Microsoft's description:
 * the canonical string to sign of a request and its HMAC-SHA256 under the
 * account key. Pure functions: no client, no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "azure.h"
#include "util.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *
url_decode(const char *s, size_t n)
{
	char	*out = xmalloc(n + 1), *o = out;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
}

struct kv {
	char	*k;
	char	*v;
};

static int
kv_cmp(const void *a, const void *b)
{
	const struct kv	*x = a, *y = b;
	int		 c = strcmp(x->k, y->k);

	return c != 0 ? c : strcmp(x->v, y->v);
}

static char *
lower(char *s)
{
	char	*p;

	for (p = s; *p; p++)
		*p = tolower((unsigned char)*p);
	return s;
}

/* The value of a standard header among hdrs, or "". */
static const char *
std_header(const char *const *hdrs, const char *name, char *tmp, size_t len)
{
	size_t	 n = strlen(name);
	const char *v;

	for (; hdrs != NULL && *hdrs; hdrs++) {
		if (strncasecmp(*hdrs, name, n) == 0 && (*hdrs)[n] == ':') {
			v = *hdrs + n + 1;
			while (*v == ' ')
				v++;
			snprintf(tmp, len, "%s", v);
			rtrim(tmp);
			return tmp;
		}
	}
	return "";
}

char *
azure_sharedkey_string(const char *method, const char *account,
    const char *path, const char *query, const char *const *hdrs)
{
	static const char *const std[] = { "Content-Encoding",
	    "Content-Language", "Content-Length", "Content-MD5",
	    "Content-Type", "Date", "If-Modified-Since", "If-Match",
	    "If-None-Match", "If-Unmodified-Since", "Range" };
	struct buf	 b;
	struct kv	*xs = NULL;
	size_t		 nx = 0, i, j;
	const char	*v, *colon, *p, *amp, *eq;
	char		 tmp[1024];

	buf_init(&b);
	buf_printf(&b, "%s\n", method);
	for (i = 0; i < nitems(std); i++) {
		v = std_header(hdrs, std[i], tmp, sizeof(tmp));
		/* Since version 2015-02-21 a zero length signs as empty. */
		if (strcmp(std[i], "Content-Length") == 0 &&
		    strcmp(v, "0") == 0)
			v = "";
		buf_printf(&b, "%s\n", v);
	}
	/* x-ms- headers: lower-case names, sorted, values trimmed. */
	for (i = 0; hdrs != NULL && hdrs[i]; i++) {
		if (strncasecmp(hdrs[i], "x-ms-", 5) != 0 ||
		    (colon = strchr(hdrs[i], ':')) == NULL)
			continue;
		xs = xrealloc(xs, (nx + 1) * sizeof(*xs));
		xs[nx].k = lower(xstrndup(hdrs[i], colon - hdrs[i]));
		rtrim(xs[nx].k);
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		xs[nx].v = rtrim(xstrdup(v));
		nx++;
	}
	if (nx > 1)
		qsort(xs, nx, sizeof(*xs), kv_cmp);
	for (i = 0; i < nx; i++)
		buf_printf(&b, "%s:%s\n", xs[i].k, xs[i].v);
	for (i = 0; i < nx; i++) {
		free(xs[i].k);
		free(xs[i].v);
	}
	free(xs);
	xs = NULL;
	nx = 0;

	buf_printf(&b, "/%s%s", account, path);
	/* Query parameters: decoded, names lower-cased, sorted, repeated
	 * names joined by commas. */
	for (p = query; p != NULL && *p; p = amp ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		j = amp ? (size_t)(amp - p) : strlen(p);
		if (j == 0)
			continue;
		eq = memchr(p, '=', j);
		xs = xrealloc(xs, (nx + 1) * sizeof(*xs));
		xs[nx].k = lower(url_decode(p, eq ? (size_t)(eq - p) : j));
		xs[nx].v = eq ? url_decode(eq + 1, j - (eq + 1 - p)) :
		    xstrdup("");
		nx++;
	}
	if (nx > 1)
		qsort(xs, nx, sizeof(*xs), kv_cmp);
	for (i = 0; i < nx; i++) {
		if (i > 0 && strcmp(xs[i].k, xs[i - 1].k) == 0)
			buf_printf(&b, ",%s", xs[i].v);
		else
			buf_printf(&b, "\n%s:%s", xs[i].k, xs[i].v);
	}
	for (i = 0; i < nx; i++) {
		free(xs[i].k);
		free(xs[i].v);
	}
	free(xs);
	buf_add(&b, "", 0);
	return buf_release(&b);
}

char *
azure_sharedkey_sign(const char *key_b64, const char *sts)
{
	unsigned char	 mac[32];
	unsigned int	 maclen = sizeof(mac);
	size_t		 klen;
	char		*key, *out;

	if (strlen(key_b64) > 1024 ||
	    (key = base64_decode(key_b64, &klen)) == NULL)
		return NULL;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)sts,
	    strlen(sts), mac, &maclen);
	explicit_bzero(key, klen);
	free(key);
	out = base64_encode(mac, maclen);
	explicit_bzero(mac, sizeof(mac));
	return out;
}
