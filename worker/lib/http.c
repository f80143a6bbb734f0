/*
 * libcurl wrappers. One struct http per thread (curl easy handles are not
 * shared). Answers are size-limited; bodies can stream from and to files so
 * an image is never held in memory.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"
#include "http_xfer.h"
#include "log.h"

#define HTTP_DEFAULT_MAX_BODY	(64 * 1024 * 1024)
#define HTTP_HEADERS_MAX	(64 * 1024)

struct http {
	CURL		*curl;
	char		*ca_bundle;
	char		*client_cert;
	char		*client_key;
	int		 insecure;
	char		*proxy;
	char		*unix_socket;
	long		 connect_timeout;
	long		 transfer_timeout;
	long		 low_speed_time;
	long		 low_speed_limit;
	size_t		 max_body;
	int		 follow_redirects;
	int		 allow_file;
	int		 decompress;
	char		*user_agent;
};

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct http *
http_new(const struct http_opts *o)
{
	struct http	*h;

	h = xcalloc(1, sizeof(*h));
	if ((h->curl = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	h->ca_bundle = dup_or_null(o->ca_bundle);
	h->client_cert = dup_or_null(o->client_cert);
	h->client_key = dup_or_null(o->client_key);
	h->insecure = o->insecure;
	h->proxy = dup_or_null(o->proxy);
	h->unix_socket = dup_or_null(o->unix_socket);
	h->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 30;
	h->transfer_timeout = o->transfer_timeout;
	h->low_speed_time = o->low_speed_time > 0 ? o->low_speed_time : 60;
	h->max_body = o->max_body > 0 ? o->max_body : HTTP_DEFAULT_MAX_BODY;
	h->low_speed_limit = o->low_speed_limit > 0 ? o->low_speed_limit : 1;
	h->follow_redirects = o->follow_redirects;
	h->allow_file = o->allow_file;
	h->decompress = o->decompress;
	h->user_agent = dup_or_null(o->user_agent);
	return h;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	free(h->ca_bundle);
	free(h->client_cert);
	free(h->client_key);
	free(h->proxy);
	free(h->unix_socket);
	free(h->user_agent);
	free(h);
}

void
http_apply(struct http *h, CURL *c)
{
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->connect_timeout);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->allow_file ?
	    "http,https,file" : "http,https");
	if (h->follow_redirects) {
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	if (h->decompress)
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (h->user_agent != NULL)
		curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->insecure ? 0L : 2L);
	if (h->ca_bundle != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_bundle);
	if (h->client_cert != NULL)
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->client_cert);
	if (h->client_key != NULL)
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->client_key);
	if (h->proxy != NULL)
		curl_easy_setopt(c, CURLOPT_PROXY, h->proxy);
	if (h->unix_socket != NULL)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->unix_socket);
	/* A transfer that stalls for a minute is dead, even a long one. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, h->low_speed_limit);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->low_speed_time);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct http_xfer	*x = arg;
	size_t			 len = size * n;

	if (x->out != NULL) {
		if (x->max_out > 0 && x->out_len + (int64_t)len > x->max_out) {
			x->too_big = 1;
			return 0;
		}
		if (fwrite(data, 1, len, x->out) != len)
			return 0;
		x->out_len += (int64_t)len;
		if (x->on_out != NULL)
			x->on_out(x->out_arg, data, len);
		return len;
	}
	if (x->resp->body.len + len > x->max_body) {
		x->too_big = 1;
		return 0;
	}
	buf_add(&x->resp->body, data, len);
	return len;
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http_xfer	*x = arg;
	size_t			 len = size * n;

	/* A new status line starts a new answer (after 100 or a redirect). */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		buf_reset(&x->resp->headers);
		x->answered = 1;
	}
	if (x->resp->headers.len + len <= HTTP_HEADERS_MAX)
		buf_add(&x->resp->headers, data, len);
	return len;
}

static size_t
on_read(char *data, size_t size, size_t n, void *arg)
{
	struct http_xfer	*x = arg;
	size_t			 want = size * n;
	ssize_t			 got;

	if ((off_t)want > x->in_left)
		want = x->in_left;
	if (want == 0)
		return 0;
	do
		got = pread(x->in_fd, data, want, x->in_off);
	while (got == -1 && errno == EINTR);
	if (got <= 0)
		return CURL_READFUNC_ABORT;
	x->in_off += got;
	x->in_left -= got;
	return got;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct http_xfer	*x = arg;

	/*
	 * Once the server answers, the answer is read whole: aborting a long
	 * poll that already carries a job would strand that job until the
	 * server's heartbeat timeout.
	 */
	if (x->answered && x->keep_answer)
		return 0;
	if (x->on_upload != NULL && un > 0)
		x->on_upload(x->upload_arg, (int64_t)un, (int64_t)ut);
	return x->abort != NULL && *x->abort;
}

void
http_resp_init(struct http_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body);
	buf_init(&r->headers);
}

void
http_resp_free(struct http_resp *r)
{
	if (r == NULL)
		return;
	buf_free(&r->body);
	buf_free(&r->headers);
}

int
http_xfer_setup(struct http *h, CURL *c, const struct http_req *req,
    struct http_resp *resp, struct http_xfer *x)
{
	struct stat		 st;
	const char		*method;
	const char *const	*hp;
	char			*line;
	long			 timeout;

	memset(x, 0, sizeof(*x));
	x->resp = resp;
	x->max_body = req->max_body > 0 ? req->max_body : h->max_body;
	x->in_fd = -1;
	x->abort = req->abort;
	x->keep_answer = req->keep_answer;
	x->on_upload = req->on_upload;
	x->upload_arg = req->upload_arg;
	x->out_path = req->out_path;
	x->max_out = req->max_out;
	x->on_out = req->on_out;
	x->out_arg = req->out_arg;
	resp->status = 0;
	resp->aborted = 0;
	resp->error[0] = '\0';
	buf_reset(&resp->body);
	buf_reset(&resp->headers);

	curl_easy_reset(c);
	http_apply(h, c);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	timeout = req->timeout != 0 ? req->timeout : h->transfer_timeout;
	if (timeout > 0 && req->body_path == NULL && req->out_path == NULL)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	/* A long poll is silent until the server has something to say. */
	if (req->long_poll)
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 0L);

	if (req->out_path != NULL &&
	    (x->out = fopen(req->out_path, "we")) == NULL) {
		snprintf(resp->error, sizeof(resp->error), "%s: %s",
		    req->out_path, strerror(errno));
		x->failed = 1;
		return -1;
	}

	method = req->method;
	if (req->body_path != NULL) {
		if ((x->in_fd = open(req->body_path, O_RDONLY | O_CLOEXEC)) ==
		    -1 || fstat(x->in_fd, &st) == -1) {
			snprintf(resp->error, sizeof(resp->error), "%s: %s",
			    req->body_path, strerror(errno));
			x->failed = 1;
			return -1;
		}
		if (req->body_off > st.st_size) {
			snprintf(resp->error, sizeof(resp->error),
			    "%s: offset past the end", req->body_path);
			x->failed = 1;
			return -1;
		}
		x->in_off = req->body_off;
		x->in_left = req->body_size > 0 ? req->body_size :
		    st.st_size - req->body_off;
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)x->in_left);
		if (method == NULL)
			method = "PUT";
	} else if (req->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->body_len);
		if (method == NULL)
			method = "POST";
	}
	if (method != NULL) {
		if (strcmp(method, "HEAD") == 0)
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		else if (strcmp(method, "GET") != 0 &&
		    !(strcmp(method, "PUT") == 0 && req->body_path != NULL) &&
		    !(strcmp(method, "POST") == 0 && req->body != NULL))
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	if (req->body != NULL && method != NULL && strcmp(method, "PUT") == 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");

	if (req->content_type != NULL) {
		line = xasprintf("Content-Type: %s", req->content_type);
		x->hdrs = curl_slist_append(x->hdrs, line);
		free(line);
	} else if ((req->body != NULL || req->body_path != NULL) &&
	    req->sigv4 == NULL)
		x->hdrs = curl_slist_append(x->hdrs, "Content-Type:");
	/*
	 * No "Expect: 100-continue" round trip: servers answer at the end.
	 * Not when libcurl signs: 7.88 signs the removal lines it does not
	 * send, which AWS then rejects.
	 */
	if (req->sigv4 == NULL)
		x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	for (hp = req->headers; hp != NULL && *hp != NULL; hp++)
		x->hdrs = curl_slist_append(x->hdrs, *hp);
	if (req->bearer != NULL) {
		line = xasprintf("Authorization: Bearer %s", req->bearer);
		x->hdrs = curl_slist_append(x->hdrs, line);
		freezero_str(line);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
	if (req->userpwd != NULL)
		curl_easy_setopt(c, CURLOPT_USERPWD, req->userpwd);
	if (req->negotiate) {
		/* Kerberos through SPNEGO; the name comes from the ticket. */
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_NEGOTIATE);
		curl_easy_setopt(c, CURLOPT_USERPWD, ":");
	}
	if (req->sigv4 != NULL)
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, req->sigv4);
	return 0;
}

int
http_xfer_finish(struct http_xfer *x, CURL *c, CURLcode cc,
    struct http_resp *resp)
{
	int	 rv = -1;

	if (x->failed)
		resp->status = 0;	/* setup said why in resp->error */
	else if (cc != CURLE_OK) {
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			resp->aborted = 1;
			snprintf(resp->error, sizeof(resp->error), "aborted");
		} else if (x->too_big)
			snprintf(resp->error, sizeof(resp->error),
			    "answer larger than %lld bytes", x->out != NULL ?
			    (long long)x->max_out : (long long)x->max_body);
		else
			snprintf(resp->error, sizeof(resp->error), "%s",
			    x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
		resp->status = 0;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		rv = 0;
	}
	/* Drop the credentials from the reused handle. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_USERPWD, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(x->hdrs);	/* held tokens */
	x->hdrs = NULL;
	if (x->out != NULL && fclose(x->out) != 0 && rv == 0) {
		snprintf(resp->error, sizeof(resp->error), "%s: %s",
		    x->out_path, strerror(errno));
		rv = -1;
	}
	x->out = NULL;
	if (x->in_fd != -1)
		close(x->in_fd);
	x->in_fd = -1;
	return rv;
}

int
http_do(struct http *h, const struct http_req *req, struct http_resp *resp)
{
	struct http_xfer	 x;
	CURLcode		 cc = CURLE_FAILED_INIT;

	if (http_xfer_setup(h, h->curl, req, resp, &x) == 0)
		cc = curl_easy_perform(h->curl);
	return http_xfer_finish(&x, h->curl, cc, resp);
}

char *
http_resp_header(const struct http_resp *r, const char *name)
{
	const char	*p, *end, *v;
	size_t		 n = strlen(name);

	for (p = r->headers.data; p != NULL && *p; p = end + 1) {
		if ((end = strchr(p, '\n')) == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > n && p[n] == ':' &&
		    strncasecmp(p, name, n) == 0) {
			v = p + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return rtrim(xstrndup(v, end - v));
		}
		if (*end == '\0')
			break;
	}
	return NULL;
}

int
http_resp_is(const struct http_resp *r, const char *type)
{
	char	*ct, *semi;
	int	 match;

	if ((ct = http_resp_header(r, "Content-Type")) == NULL)
		return 0;
	if ((semi = strchr(ct, ';')) != NULL)
		*semi = '\0';
	rtrim(ct);
	match = strcasecmp(ct, type) == 0;
	free(ct);
	return match;
}

int64_t
http_retry_after(const struct http_resp *r, int64_t dflt, int64_t cap)
{
	char	*ra;
	int64_t	 s, ms = dflt;

	if ((ra = http_resp_header(r, "Retry-After")) != NULL) {
		s = strtoll(ra, NULL, 10);
		if (s > 0 && ra[0] >= '0' && ra[0] <= '9')
			ms = s < cap / 1000 ? s * 1000 : cap;
		free(ra);
	}
	return ms;
}

char *
http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf	 b;
	const unsigned char *p;

	buf_init(&b);
	buf_add(&b, "", 0);
	for (p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~')
			buf_add(&b, p, 1);
		else {
			char	 e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			buf_add(&b, e, 3);
		}
	}
	return buf_release(&b);
}
