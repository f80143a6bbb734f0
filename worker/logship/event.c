/*
 * Event text and batches. Nothing read from the journal is interpreted:
 * bytes are only checked for UTF-8 validity and escaped for JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

#define REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD */
#define MARK_FMT	" [truncated by ib-logship: %zu bytes]"

/* The length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t
utf8_seq(const unsigned char *s, size_t left)
{
	size_t		 n, i;
	unsigned int	 cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static void
add_utf8(struct buf *b, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n;

	while (i < len) {
		if ((n = utf8_seq(p + i, len - i)) == 0) {
			buf_addstr(b, REPLACEMENT);
			i++;
		} else {
			buf_add(b, p + i, n);
			i += n;
		}
	}
}

char *
event_text(const char *unit, size_t unitlen, const char *msg, size_t msglen,
    size_t *lenp)
{
	struct buf	 b;
	char		 mark[80];
	size_t		 max = EV_MAX_SIZE - EV_OVERHEAD, cut, whole;

	buf_init(&b);
	add_utf8(&b, unit, unitlen);
	buf_addstr(&b, ": ");
	/* Never more than needed: a huge MESSAGE is cut before it is copied. */
	add_utf8(&b, msg, msglen > max ? max : msglen);
	whole = b.len + (msglen > max ? msglen - max : 0);
	if (b.len > max || msglen > max) {
		snprintf(mark, sizeof(mark), MARK_FMT, whole);
		cut = b.len > max - strlen(mark) ? max - strlen(mark) : b.len;
		/* Back to the start of a character. */
		while (cut > 0 && ((unsigned char)b.data[cut] & 0xc0) == 0x80)
			cut--;
		b.len = cut;
		b.data[cut] = '\0';
		buf_addstr(&b, mark);
	}
	if (b.data == NULL)
		buf_addstr(&b, "");
	*lenp = b.len;
	return buf_release(&b);
}

void
event_clear(struct event *ev)
{
	if (ev == NULL)
		return;
	free(ev->msg);
	free(ev->cursor);
	memset(ev, 0, sizeof(*ev));
}

void
batch_init(struct batch *b)
{
	memset(b, 0, sizeof(*b));
}

int
batch_add(struct batch *b, struct event *ev)
{
	size_t	 sz = ev->len + EV_OVERHEAD;

	if (b->n > 0 && ev->ts < b->ev[b->n - 1].ts)
		ev->ts = b->ev[b->n - 1].ts;
	if (b->n >= EV_BATCH_COUNT || b->bytes + sz > EV_BATCH_BYTES ||
	    (b->n > 0 && ev->ts - b->ev[0].ts > EV_BATCH_SPAN_MS))
		return -1;
	if (b->ev == NULL)
		b->ev = xcalloc(EV_BATCH_COUNT, sizeof(*b->ev));
	b->ev[b->n++] = *ev;
	b->bytes += sz;
	memset(ev, 0, sizeof(*ev));
	return 0;
}

void
batch_drop(struct batch *b, size_t n)
{
	size_t	 i;

	if (n > b->n)
		n = b->n;
	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		b->bytes -= b->ev[i].len + EV_OVERHEAD;
		event_clear(&b->ev[i]);
	}
	memmove(b->ev, b->ev + n, (b->n - n) * sizeof(*b->ev));
	b->n -= n;
}

void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	batch_drop(b, b->n);
	free(b->ev);
	memset(b, 0, sizeof(*b));
}

void
json_str(struct buf *b, const char *s, size_t len)
{
	size_t	 i;
	char	 esc[8];

	buf_addstr(b, "\"");
	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			buf_add(b, esc, 2);
		} else if (c == '\n')
			buf_addstr(b, "\\n");
		else if (c == '\t')
			buf_addstr(b, "\\t");
		else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			buf_addstr(b, esc);
		} else
			buf_add(b, &s[i], 1);
	}
	buf_addstr(b, "\"");
}
