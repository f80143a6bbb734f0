/*
 * Allocation that cannot fail, growable buffers, file and path helpers.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void
oom(size_t n)
{
	fatalx("out of memory allocating %zu bytes", n);
}

void *
xmalloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void	*p = realloc(old, n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p = strdup(s);

	if (p == NULL)
		oom(strlen(s) + 1);
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p = strndup(s, n);

	if (p == NULL)
		oom(n + 1);
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char	*s;

	if (vasprintf(&s, fmt, ap) == -1)
		oom(strlen(fmt));
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
freezero_str(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t	 cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_addstr(b, s);
	free(s);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

char *
buf_release(struct buf *b)
{
	char	*p = b->data;

	if (p == NULL)
		p = xstrdup("");
	buf_init(b);
	return p;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

int
name_is_safe(const char *s)
{
	const unsigned char *p;

	if (s == NULL || *s == '\0' || strlen(s) > 255)
		return 0;
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (p = (const unsigned char *)s; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	return 1;
}

int
text_is_printable(const char *s, size_t max)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] < 0x20 || s[n] >= 0x7f)
			return 0;
	return n > 0 && n <= max;
}

size_t
url_origin_len(const char *url)
{
	const char	*p = strstr(url, "://");

	if (p == NULL)
		return 0;
	p += 3;
	p += strcspn(p, "/?#");
	return (size_t)(p - url);
}

char *
url_host(const char *url)
{
	const char	*p = url != NULL ? strstr(url, "://") : NULL, *e;
	char		*h;

	if (p == NULL)
		return NULL;
	p += 3;
	e = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(e - p)) != NULL || *p == '[')
		return NULL;
	h = xstrndup(p, strcspn(p, ":/?#"));
	if (*h == '\0' || !text_is_printable(h, 253)) {
		free(h);
		return NULL;
	}
	return h;
}

int
url_under(const char *url, const char *base)
{
	size_t	 n = url_origin_len(base);

	if (n == 0 || url_origin_len(url) != n ||
	    strncasecmp(url, base, n) != 0)
		return 0;
	return strncmp(url + n, base + n, strlen(base + n)) == 0;
}

/* The last '@' of the authority starting at auth, or NULL. */
static const char *
userinfo_at(const char *auth, const char *lim)
{
	const char	*p, *at = NULL;

	for (p = auth; p < lim && *p != '/' && *p != '?' && *p != '#'; p++)
		if (*p == '@')
			at = p;
	return at;
}

/*
 * Appends url[0..n) redacted to b (see url_redact). A URL nested in the
 * path ("https://proxy/https://u:p@host/") has its userinfo redacted too.
 */
static void
url_redact_into(struct buf *b, const char *url, size_t n)
{
	const char	*lim = url + n, *sep, *auth, *at, *p;
	size_t		 kept = 0;

	/* A "://" after the path, query or fragment began is no scheme's. */
	sep = memmem(url, n, "://", 3);
	if (sep != NULL && strcspn(url, "/?#") < (size_t)(sep - url))
		sep = NULL;
	auth = sep != NULL ? sep + 3 : url;
	for (p = url; p < lim; p++) {
		if (p == auth && (at = userinfo_at(auth, lim)) != NULL) {
			buf_addstr(b, "<redacted>@");
			kept += 11;
			p = at;
			continue;
		}
		if (*p == '?' || *p == '#') {
			buf_printf(b, "%c<redacted>", *p);
			break;
		}
		if (kept++ >= URL_REDACT_MAX) {
			buf_addstr(b, "...");
			/* Still say that a query string was there. */
			if ((p = memchr(p, '?', (size_t)(lim - p))) != NULL ||
			    (p = memchr(url, '#', n)) != NULL)
				buf_printf(b, "%c<redacted>", *p);
			break;
		}
		if (p >= auth && lim - p >= 3 && memcmp(p, "://", 3) == 0) {
			buf_addstr(b, "://");
			kept += 2;
			p += 2;
			auth = p + 1;
			continue;
		}
		buf_add(b, (unsigned char)*p < 0x20 ||
		    (unsigned char)*p >= 0x7f ? "_" : p, 1);
	}
}

char *
url_redact(const char *url)
{
	struct buf	 b;

	if (url == NULL)
		return xstrdup("(none)");
	buf_init(&b);
	url_redact_into(&b, url, strlen(url));
	return buf_release(&b);
}

static int
url_scheme_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

static int
url_end_char(char c)
{
	return (unsigned char)c <= ' ' || c == '"' || c == '\'' ||
	    c == '<' || c == '>' || c == 0x7f;
}

char *
text_redact_urls(const char *text)
{
	struct buf	 b;
	const char	*p, *start, *sep, *end;

	if (text == NULL)
		return xstrdup("");
	buf_init(&b);
	p = text;
	while ((sep = strstr(p, "://")) != NULL) {
		for (start = sep; start > p && url_scheme_char(start[-1]);
		    start--)
			;
		for (end = sep + 3; *end != '\0' && !url_end_char(*end);
		    end++)
			;
		buf_add(&b, p, (size_t)(start - p));
		url_redact_into(&b, start, (size_t)(end - start));
		p = end;
	}
	buf_addstr(&b, p);
	return buf_release(&b);
}

char *
read_file(const char *path, size_t max, size_t *lenp)
{
	struct buf	 b;
	char		 chunk[8192];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	buf_init(&b);
	buf_add(&b, "", 0);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (b.len + (size_t)n > max) {
			errno = EFBIG;
			goto fail;
		}
		buf_add(&b, chunk, n);
	}
	close(fd);
	if (lenp != NULL)
		*lenp = b.len;
	return buf_release(&b);
fail:
	n = errno;
	close(fd);
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	errno = n;
	return NULL;
}

int
write_all(int fd, const void *data, size_t len)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < len) {
		n = write(fd, (const char *)data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int
write_file_atomic(const char *path, const void *data, size_t len, int mode)
{
	char	*tmp;
	int	 fd, rv = -1, saved;

	tmp = xasprintf("%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1)
		goto cleanup;
	if (fchmod(fd, mode) == -1)
		goto fail;
	if (write_all(fd, data, len) == -1)
		goto fail;
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	rv = 0;
	goto cleanup;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved;
cleanup:
	free(tmp);
	return rv;
}

int
remove_tree(const char *path)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		*sub;
	int		 rv = 0;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) == -1 && errno != ENOENT ? -1 : 0;
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		if (remove_tree(sub) == -1)
			rv = -1;
		free(sub);
	}
	closedir(d);
	if (rmdir(path) == -1 && errno != ENOENT)
		rv = -1;
	return rv;
}

int
mkdir_p(const char *path, int mode)
{
	char	*p, *s;
	int	 rv = 0;

	p = xstrdup(path);
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST) {
			rv = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rv;
}

char *
base64_encode(const void *data, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	char	*out, *o;
	size_t	 i;

	out = o = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = tab[in[i] >> 2];
		*o++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*o++ = tab[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*o++ = tab[in[i + 2] & 63];
	}
	if (i < len) {
		*o++ = tab[in[i] >> 2];
		if (i + 1 < len) {
			*o++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*o++ = tab[(in[i + 1] & 15) << 2];
		} else {
			*o++ = tab[(in[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

char *
base64_decode(const char *s, size_t *lenp)
{
	size_t		 n = strlen(s), pad = 0, i, j;
	unsigned char	*out;
	int		 v[4], k;

	if (n == 0 || n % 4 != 0)
		return NULL;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	out = xmalloc(n / 4 * 3 + 1);
	for (i = 0, j = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++) {
			v[k] = i + k >= n - pad ? 0 : b64val(s[i + k]);
			if (v[k] < 0) {
				free(out);
				return NULL;
			}
		}
		out[j++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		out[j++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		out[j++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	j -= pad;
	out[j] = '\0';
	*lenp = j;
	return (char *)out;
}

int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
sleep_abortable(int64_t ms, const atomic_int *abort)
{
	struct timespec	 ts;
	int64_t		 end = now_ms() + ms, left;

	while ((left = end - now_ms()) > 0) {
		if (abort != NULL && *abort)
			return -1;
		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000L;
		nanosleep(&ts, NULL);
	}
	return abort != NULL && *abort ? -1 : 0;
}

char *
rtrim(char *s)
{
	size_t	 n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int
exec_runnable(const char *name)
{
	const char	*path;
	char		*dirs, *dir, *save = NULL, *cand;
	int		 ok = 0;

	if (strchr(name, '/') != NULL)
		return access(name, X_OK) == 0;
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/bin:/bin";
	dirs = xstrdup(path);
	for (dir = strtok_r(dirs, ":", &save); dir != NULL && !ok;
	    dir = strtok_r(NULL, ":", &save)) {
		cand = xasprintf("%s/%s", dir, name);
		ok = access(cand, X_OK) == 0;
		free(cand);
	}
	free(dirs);
	return ok;
}
