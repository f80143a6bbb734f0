/*
 * A strict TOML 1.0 subset parser: one pass over the bytes, building the
 * tree as it goes, stopping at the first error with its line and column.
 * Floats, dates and arrays of tables are refused by name rather than
 * misread; nothing a configuration needs depends on them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "util.h"

/* How a table came to be: decides whether it may be defined again. */
enum {
	HOW_ROOT,
	HOW_IMPLICIT,	/* an intermediate of a [a.b] header: [a] may follow */
	HOW_HEADER,	/* defined by its own [header] */
	HOW_DOTTED,	/* made by a dotted key a.b = v */
	HOW_INLINE	/* an inline table, closed for good */
};

struct parser {
	const char		*s;
	size_t			 len;
	size_t			 pos;
	size_t			 start;		/* past a byte-order mark */
	struct toml_error	*err;
	int			 failed;
	struct toml_value	*root;
	struct toml_value	*cur;		/* the table keys go into */
	char			 curname[128];	/* its name, for messages */
	/* locate()'s memory: line and column of byte loc_pos */
	size_t			 loc_pos;
	int			 loc_line;
	int			 loc_col;
};

struct key {
	char	*part[TOML_MAX_DEPTH];
	size_t	 pos[TOML_MAX_DEPTH];
	int	 n;
};

static struct toml_value *parse_value(struct parser *, int);

static int
peekn(const struct parser *ps, size_t k)
{
	if (ps->pos + k >= ps->len)
		return -1;
	return (unsigned char)ps->s[ps->pos + k];
}

static int
peek(const struct parser *ps)
{
	return peekn(ps, 0);
}

static int
is_bare(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Control characters TOML allows nowhere but through escapes. */
static int
is_ctrl(int c)
{
	return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f;
}

/*
 * Line and column (in characters) of byte pos. Callers mostly ask in
 * increasing order, so walking on from the last answer keeps the whole
 * parse linear.
 */
static void
locate(struct parser *ps, size_t pos, int *line, int *col)
{
	size_t	 i;

	if (pos < ps->loc_pos || ps->loc_line == 0) {
		ps->loc_pos = ps->start;
		ps->loc_line = 1;
		ps->loc_col = 1;
	}
	if (pos > ps->len)
		pos = ps->len;
	for (i = ps->loc_pos; i < pos; i++) {
		unsigned char	 c = ps->s[i];

		if (c == '\n') {
			ps->loc_line++;
			ps->loc_col = 1;
		} else if ((c & 0xc0) != 0x80)
			ps->loc_col++;
	}
	ps->loc_pos = pos;
	*line = ps->loc_line;
	*col = ps->loc_col;
}

static int
fail(struct parser *ps, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct parser *ps, size_t pos, const char *fmt, ...)
{
	struct toml_error	*e = ps->err;
	va_list			 ap;

	if (ps->failed++ || e == NULL)
		return -1;
	locate(ps, pos, &e->line, &e->col);
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
	snprintf(e->msg, sizeof(e->msg), "line %d, column %d: %s", e->line,
	    e->col, e->reason);
	return -1;
}

/* What is at pos, for a message: 'x', end of line, a whole UTF-8 char. */
static const char *
describe(const struct parser *ps, size_t pos, char *out, size_t outlen)
{
	unsigned char	 c;
	size_t		 n = 1;

	if (pos >= ps->len)
		return "end of file";
	c = ps->s[pos];
	if (c == '\n' || (c == '\r' && pos + 1 < ps->len &&
	    ps->s[pos + 1] == '\n'))
		return "end of line";
	if (c == '\r')
		return "a carriage return";
	if (c == '\t')
		return "a tab";
	if (c < 0x20 || c == 0x7f) {
		snprintf(out, outlen, "control character U+%04X", c);
		return out;
	}
	if (c >= 0x80)	/* the input is valid UTF-8: copy the character */
		while (pos + n < ps->len &&
		    ((unsigned char)ps->s[pos + n] & 0xc0) == 0x80)
			n++;
	snprintf(out, outlen, "'%.*s'", (int)n, ps->s + pos);
	return out;
}

/* Offset of the first byte that is not well-formed UTF-8, or len. */
static size_t
utf8_check(const unsigned char *s, size_t len)
{
	size_t		 i = 0, n, k;
	uint32_t	 cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return i;
		if (i + n >= len)
			return i;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

static struct toml_value *
node(struct parser *ps, enum toml_kind kind, size_t pos)
{
	struct toml_value	*v = xcalloc(1, sizeof(*v));

	v->kind = kind;
	locate(ps, pos, &v->line, &v->col);
	return v;
}

void
toml_free(struct toml_value *v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nitems; i++)
		toml_free(v->items[i]);
	free(v->items);
	free(v->key);
	free(v->str);
	free(v);
}

/* Appends v to table or array t (which then owns it), within the bound. */
static int
add(struct parser *ps, struct toml_value *t, struct toml_value *v, size_t pos)
{
	size_t	 n = t->nitems;

	if (n >= TOML_MAX_ITEMS) {
		toml_free(v);
		return fail(ps, pos, "more than %d items in one %s",
		    TOML_MAX_ITEMS, t->kind == TOML_TABLE ? "table" : "array");
	}
	if (n == 0)
		t->items = xcalloc(8, sizeof(*t->items));
	else if (n >= 8 && (n & (n - 1)) == 0)
		t->items = xrealloc(t->items, 2 * n * sizeof(*t->items));
	t->items[t->nitems++] = v;
	return 0;
}

static struct toml_value *
find(const struct toml_value *t, const char *key)
{
	size_t	 i;

	for (i = 0; i < t->nitems; i++)
		if (strcmp(t->items[i]->key, key) == 0)
			return t->items[i];
	return NULL;
}

const struct toml_value *
toml_get(const struct toml_value *t, const char *key)
{
	if (t == NULL || t->kind != TOML_TABLE)
		return NULL;
	return find(t, key);
}

const char *
toml_kind_name(enum toml_kind k)
{
	switch (k) {
	case TOML_TABLE:
		return "a table";
	case TOML_ARRAY:
		return "an array";
	case TOML_STRING:
		return "a string";
	case TOML_INT:
		return "an integer";
	case TOML_BOOL:
		return "a boolean";
	}
	return "a value";
}

static void
skip_ws(struct parser *ps)
{
	while (peek(ps) == ' ' || peek(ps) == '\t')
		ps->pos++;
}

/* At '#': skips the comment up to (not past) the end of the line. */
static int
skip_comment(struct parser *ps)
{
	int	 c;

	ps->pos++;
	while ((c = peek(ps)) != -1 && c != '\n') {
		if (c == '\r' && peekn(ps, 1) == '\n')
			break;
		if (is_ctrl(c))
			return fail(ps, ps->pos, "control character U+%04X in "
			    "a comment", c);
		ps->pos++;
	}
	return 0;
}

/* Consumes one newline (LF or CRLF) if there is one; 1 when it did. */
static int
newline(struct parser *ps)
{
	if (peek(ps) == '\n') {
		ps->pos++;
		return 1;
	}
	if (peek(ps) == '\r' && peekn(ps, 1) == '\n') {
		ps->pos += 2;
		return 1;
	}
	return 0;
}

/* Blanks, comments and newlines, as allowed inside arrays. */
static int
skip_ws_nl(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		if (peek(ps) == '#' && skip_comment(ps) == -1)
			return -1;
		if (!newline(ps))
			return 0;
	}
}

/* After a value or a header: blanks, a comment, then the line's end. */
static int
end_of_line(struct parser *ps, const char *after)
{
	char	 d[32];

	skip_ws(ps);
	if (peek(ps) == '#' && skip_comment(ps) == -1)
		return -1;
	if (peek(ps) == -1 || newline(ps))
		return 0;
	return fail(ps, ps->pos, "expected the end of the line after %s, "
	    "found %s", after, describe(ps, ps->pos, d, sizeof(d)));
}

static void
put_utf8(struct buf *b, uint32_t cp)
{
	unsigned char	 u[4];
	size_t		 n;

	if (cp < 0x80) {
		u[0] = cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = 0xc0 | (cp >> 6);
		u[1] = 0x80 | (cp & 0x3f);
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = 0xe0 | (cp >> 12);
		u[1] = 0x80 | ((cp >> 6) & 0x3f);
		u[2] = 0x80 | (cp & 0x3f);
		n = 3;
	} else {
		u[0] = 0xf0 | (cp >> 18);
		u[1] = 0x80 | ((cp >> 12) & 0x3f);
		u[2] = 0x80 | ((cp >> 6) & 0x3f);
		u[3] = 0x80 | (cp & 0x3f);
		n = 4;
	}
	buf_add(b, u, n);
}

/* At a backslash in a basic string: decodes one escape into b. */
static int
escape(struct parser *ps, struct buf *b)
{
	size_t		 at = ps->pos, i;
	int		 c = peekn(ps, 1), ndig, h;
	uint32_t	 cp = 0;
	char		 d[32];

	switch (c) {
	case 'b': buf_add(b, "\b", 1); break;
	case 't': buf_add(b, "\t", 1); break;
	case 'n': buf_add(b, "\n", 1); break;
	case 'f': buf_add(b, "\f", 1); break;
	case 'r': buf_add(b, "\r", 1); break;
	case '"': buf_add(b, "\"", 1); break;
	case '\\': buf_add(b, "\\", 1); break;
	case 'u':
	case 'U':
		ndig = c == 'u' ? 4 : 8;
		for (i = 2; i < 2 + (size_t)ndig; i++) {
			h = peekn(ps, i);
			if (h >= '0' && h <= '9')
				h -= '0';
			else if (h >= 'a' && h <= 'f')
				h -= 'a' - 10;
			else if (h >= 'A' && h <= 'F')
				h -= 'A' - 10;
			else
				return fail(ps, at, "\\%c needs %d hex digits",
				    c, ndig);
			cp = (cp << 4) | (uint32_t)h;
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return fail(ps, at, "\\%c%.*s is not a Unicode scalar "
			    "value", c, ndig, ps->s + at + 2);
		if (cp == 0)
			return fail(ps, at, "\\%c%.*s: strings cannot hold NUL",
			    c, ndig, ps->s + at + 2);
		put_utf8(b, cp);
		ps->pos += 2 + ndig;
		return 0;
	default:
		return fail(ps, at, "invalid escape sequence: backslash "
		    "followed by %s", describe(ps, at + 1, d, sizeof(d)));
	}
	ps->pos += 2;
	return 0;
}

/*
 * At the opening quote of any of the four string forms; multi-line ones
 * only when allow_ml (keys cannot be). Returns the string (caller frees)
 * or NULL.
 */
static char *
parse_string(struct parser *ps, int allow_ml)
{
	struct buf	 b;
	size_t		 open = ps->pos, n, j;
	int		 q = peek(ps), basic = q == '"', c;

	buf_init(&b);
	if (peekn(ps, 1) == q && peekn(ps, 2) == q) {
		if (!allow_ml) {
			fail(ps, open, "a multi-line string cannot be a key");
			return NULL;
		}
		ps->pos += 3;
		newline(ps);	/* a newline right after the opener is dropped */
		for (;;) {
			c = peek(ps);
			if (c == -1) {
				fail(ps, open, "unterminated multi-line string");
				goto bad;
			}
			if (c == q) {
				for (n = 0; peekn(ps, n) == q; n++)
					;
				if (n > 5) {
					fail(ps, ps->pos, "too many quotes in "
					    "a row in a multi-line string");
					goto bad;
				}
				if (n >= 3) {	/* up to two belong to the text */
					buf_add(&b, ps->s + ps->pos, n - 3);
					ps->pos += n;
					return buf_release(&b);
				}
				buf_add(&b, ps->s + ps->pos, n);
				ps->pos += n;
			} else if (basic && c == '\\') {
				/* A backslash ending a line eats all blanks. */
				for (j = 1; peekn(ps, j) == ' ' ||
				    peekn(ps, j) == '\t'; j++)
					;
				if (peekn(ps, j) == '\n' || (peekn(ps, j) ==
				    '\r' && peekn(ps, j + 1) == '\n')) {
					ps->pos += j;
					while (newline(ps) || peek(ps) == ' ' ||
					    peek(ps) == '\t')
						if (peek(ps) == ' ' ||
						    peek(ps) == '\t')
							ps->pos++;
				} else if (escape(ps, &b) == -1)
					goto bad;
			} else if (c == '\n' || c == '\r') {
				if (!newline(ps)) {
					fail(ps, ps->pos, "carriage return "
					    "without a line feed");
					goto bad;
				}
				buf_add(&b, "\n", 1);
			} else if (is_ctrl(c)) {
				fail(ps, ps->pos, "control character U+%04X "
				    "in a string", c);
				goto bad;
			} else
				buf_add(&b, ps->s + ps->pos++, 1);
		}
	}
	ps->pos++;
	for (;;) {
		c = peek(ps);
		if (c == -1 || c == '\n' || c == '\r') {
			fail(ps, open, "unterminated string");
			goto bad;
		}
		if (c == q) {
			ps->pos++;
			return buf_release(&b);
		}
		if (basic && c == '\\') {
			if (escape(ps, &b) == -1)
				goto bad;
		} else if (is_ctrl(c)) {
			fail(ps, ps->pos, "control character U+%04X in a "
			    "string", c);
			goto bad;
		} else
			buf_add(&b, ps->s + ps->pos++, 1);
	}
bad:
	buf_free(&b);
	return NULL;
}

static void
key_clear(struct key *k)
{
	int	 i;

	for (i = 0; i < k->n; i++)
		free(k->part[i]);
	k->n = 0;
}

/* prefix and the first n parts of k, dotted, for messages. */
static const char *
key_name(const char *prefix, const struct key *k, int n, char *out,
    size_t outlen)
{
	struct buf	 b;
	const char	*p;
	int		 i;

	buf_init(&b);
	buf_addstr(&b, prefix);
	for (i = 0; i < n; i++) {
		if (i > 0 || *prefix != '\0')
			buf_add(&b, ".", 1);
		for (p = k->part[i]; *p != '\0' && is_bare(*p); p++)
			;
		if (*p != '\0' || *k->part[i] == '\0')
			buf_printf(&b, "\"%s\"", k->part[i]);
		else
			buf_addstr(&b, k->part[i]);
	}
	snprintf(out, outlen, "%s", b.data != NULL ? b.data : "");
	buf_free(&b);
	return out;
}

/* A possibly dotted key, up to (not including) '=' or ']'. */
static int
parse_key(struct parser *ps, struct key *k)
{
	char	*name, d[32];
	size_t	 at;
	int	 c;

	k->n = 0;
	for (;;) {
		skip_ws(ps);
		at = ps->pos;
		c = peek(ps);
		if (c == '"' || c == '\'')
			name = parse_string(ps, 0);
		else if (is_bare(c)) {
			while (is_bare(peek(ps)))
				ps->pos++;
			name = xstrndup(ps->s + at, ps->pos - at);
		} else
			return fail(ps, at, "expected a key, found %s",
			    describe(ps, at, d, sizeof(d)));
		if (name == NULL)
			return -1;
		if (k->n == TOML_MAX_DEPTH) {
			free(name);
			return fail(ps, at, "a key has more than %d parts",
			    TOML_MAX_DEPTH);
		}
		k->part[k->n] = name;
		k->pos[k->n++] = at;
		skip_ws(ps);
		if (peek(ps) != '.')
			return 0;
		ps->pos++;
	}
}

/* Digits of base with '_' only between digits, up to limit. */
static int
digits(const char *s, size_t n, int base, uint64_t limit, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;
	int		 d, under = 1;

	for (i = 0; i < n; i++) {
		if (s[i] == '_') {
			if (under)
				return -1;
			under = 1;
			continue;
		}
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			return -1;
		if (d >= base)
			return -1;
		if (v > (limit - (uint64_t)d) / (uint64_t)base)
			return -2;
		v = v * (uint64_t)base + (uint64_t)d;
		under = 0;
	}
	if (under)
		return -1;
	*out = v;
	return 0;
}

/* A ':' or a '-' other than an exponent's sign marks a date or a time. */
static int
is_date(const char *r, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (r[i] == ':' || (r[i] == '-' && i > 0 && r[i - 1] != 'e' &&
		    r[i - 1] != 'E'))
			return 1;
	return 0;
}

/* A bare word as a value: boolean, integer, or a refusal saying why. */
static struct toml_value *
parse_word(struct parser *ps)
{
	struct toml_value	*v;
	const char		*w = ps->s + ps->pos, *r;
	size_t			 at = ps->pos, n = 0, rn;
	uint64_t		 u;
	int			 neg = 0, base = 10, rc;
	char			 d[32];

	while (is_bare(peekn(ps, n)) || peekn(ps, n) == '+' ||
	    peekn(ps, n) == '.' || peekn(ps, n) == ':')
		n++;
	if (n == 0) {
		fail(ps, at, "expected a value, found %s",
		    describe(ps, at, d, sizeof(d)));
		return NULL;
	}
	ps->pos += n;
	if ((n == 4 && memcmp(w, "true", 4) == 0) ||
	    (n == 5 && memcmp(w, "false", 5) == 0)) {
		v = node(ps, TOML_BOOL, at);
		v->num = n == 4;
		return v;
	}
	r = w;
	rn = n;
	if (*r == '+' || *r == '-') {
		neg = *r == '-';
		r++;
		rn--;
	}
	if (rn == 3 && (memcmp(r, "inf", 3) == 0 || memcmp(r, "nan", 3) == 0))
		goto isfloat;
	if (rn == 0 || !(*r >= '0' && *r <= '9')) {
		if (r == w)
			fail(ps, at, "expected a value, found '%.*s' "
			    "(strings must be quoted)", (int)(n > 40 ? 40 : n),
			    w);
		else
			fail(ps, at, "invalid integer '%.*s'",
			    (int)(n > 40 ? 40 : n), w);
		return NULL;
	}
	if (rn > 1 && r[0] == '0' && (r[1] == 'x' || r[1] == 'o' ||
	    r[1] == 'b')) {
		if (r != w) {
			fail(ps, at, "a sign is not allowed on a hexadecimal, "
			    "octal or binary integer");
			return NULL;
		}
		base = r[1] == 'x' ? 16 : r[1] == 'o' ? 8 : 2;
		r += 2;
		rn -= 2;
	} else if (is_date(r, rn)) {
		fail(ps, at, "dates and times are not supported");
		return NULL;
	} else if (memchr(r, '.', rn) != NULL || memchr(r, 'e', rn) != NULL ||
	    memchr(r, 'E', rn) != NULL)
		goto isfloat;
	else if (r[0] == '0' && rn > 1) {
		fail(ps, at, "leading zeros are not allowed in a decimal "
		    "integer");
		return NULL;
	}
	rc = digits(r, rn, base, neg ? (uint64_t)INT64_MAX + 1 :
	    (uint64_t)INT64_MAX, &u);
	if (rc == -2) {
		fail(ps, at, "integer '%.*s' does not fit in 64 bits",
		    (int)(n > 40 ? 40 : n), w);
		return NULL;
	}
	if (rc == -1) {
		fail(ps, at, "invalid integer '%.*s'", (int)(n > 40 ? 40 : n),
		    w);
		return NULL;
	}
	v = node(ps, TOML_INT, at);
	if (neg)
		v->num = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
		    -(int64_t)u;
	else
		v->num = (int64_t)u;
	return v;
isfloat:
	fail(ps, at, "floating-point numbers are not supported");
	return NULL;
}

static struct toml_value *
parse_array(struct parser *ps, int depth)
{
	struct toml_value	*a, *v;
	size_t			 at;
	char			 d[32];

	a = node(ps, TOML_ARRAY, ps->pos);
	ps->pos++;
	for (;;) {
		if (skip_ws_nl(ps) == -1)
			goto bad;
		if (peek(ps) == ']')
			break;
		at = ps->pos;
		if ((v = parse_value(ps, depth + 1)) == NULL ||
		    add(ps, a, v, at) == -1)
			goto bad;
		if (skip_ws_nl(ps) == -1)
			goto bad;
		if (peek(ps) == ']')
			break;
		if (peek(ps) != ',') {
			fail(ps, ps->pos, "expected ',' or ']' in an array, "
			    "found %s", describe(ps, ps->pos, d, sizeof(d)));
			goto bad;
		}
		ps->pos++;
	}
	ps->pos++;
	return a;
bad:
	toml_free(a);
	return NULL;
}

/* Everything in an inline table is final, including its subtables. */
static void
seal(struct toml_value *t)
{
	size_t	 i;

	t->how = HOW_INLINE;
	for (i = 0; i < t->nitems; i++)
		if (t->items[i]->kind == TOML_TABLE)
			seal(t->items[i]);
}

static int	 parse_keyval(struct parser *, struct toml_value *, int);

static struct toml_value *
parse_inline(struct parser *ps, int depth)
{
	struct toml_value	*t;
	char			 d[32];

	t = node(ps, TOML_TABLE, ps->pos);
	t->how = HOW_INLINE;
	ps->pos++;
	skip_ws(ps);
	if (peek(ps) == '}') {
		ps->pos++;
		return t;
	}
	for (;;) {
		if (parse_keyval(ps, t, depth + 1) == -1)
			goto bad;
		skip_ws(ps);
		if (peek(ps) == '}')
			break;
		if (peek(ps) != ',') {
			fail(ps, ps->pos, "expected ',' or '}' in an inline "
			    "table, found %s%s", describe(ps, ps->pos, d,
			    sizeof(d)), peek(ps) == '\n' || peek(ps) == '\r' ?
			    " (inline tables must be on one line)" : "");
			goto bad;
		}
		ps->pos++;
		skip_ws(ps);
		if (peek(ps) == '}') {
			fail(ps, ps->pos, "a trailing comma is not allowed in "
			    "an inline table");
			goto bad;
		}
	}
	ps->pos++;
	seal(t);
	return t;
bad:
	toml_free(t);
	return NULL;
}

static struct toml_value *
parse_value(struct parser *ps, int depth)
{
	struct toml_value	*v;
	size_t			 at = ps->pos;
	char			*s;
	int			 c = peek(ps);

	if (depth > TOML_MAX_DEPTH) {
		fail(ps, at, "values nested more than %d deep",
		    TOML_MAX_DEPTH);
		return NULL;
	}
	if (c == '"' || c == '\'') {
		if ((s = parse_string(ps, 1)) == NULL)
			return NULL;
		v = node(ps, TOML_STRING, at);
		v->str = s;
		return v;
	}
	if (c == '[')
		return parse_array(ps, depth);
	if (c == '{')
		return parse_inline(ps, depth);
	return parse_word(ps);
}

/* key = value, into table t; dotted keys make tables under t. */
static int
parse_keyval(struct parser *ps, struct toml_value *t, int depth)
{
	struct toml_value	*v, *sub;
	struct key		 k;
	const char		*pfx = t == ps->cur ? ps->curname : "";
	char			 name[128], d[32];
	int			 i, line, col, rc = -1;

	if (parse_key(ps, &k) == -1)
		goto done;
	for (i = 0; i < k.n - 1; i++) {
		sub = find(t, k.part[i]);
		if (sub == NULL) {
			sub = node(ps, TOML_TABLE, k.pos[i]);
			sub->how = HOW_DOTTED;
			sub->key = xstrdup(k.part[i]);
			if (add(ps, t, sub, k.pos[i]) == -1)
				goto done;
		} else if (sub->kind != TOML_TABLE) {
			fail(ps, k.pos[i], "key %s is already a value (line "
			    "%d), not a table", key_name(pfx, &k, i + 1, name,
			    sizeof(name)), sub->line);
			goto done;
		} else if (sub->how != HOW_DOTTED) {
			fail(ps, k.pos[i], "table %s is defined at line %d "
			    "and cannot be extended with a dotted key",
			    key_name(pfx, &k, i + 1, name, sizeof(name)),
			    sub->line);
			goto done;
		}
		t = sub;
	}
	if ((sub = find(t, k.part[k.n - 1])) != NULL) {
		fail(ps, k.pos[k.n - 1], "duplicate key %s (first defined at "
		    "line %d)", key_name(pfx, &k, k.n, name, sizeof(name)),
		    sub->line);
		goto done;
	}
	if (peek(ps) != '=') {
		fail(ps, ps->pos, "expected '=' after key %s, found %s",
		    key_name(pfx, &k, k.n, name, sizeof(name)),
		    describe(ps, ps->pos, d, sizeof(d)));
		goto done;
	}
	ps->pos++;
	skip_ws(ps);
	/* The member's place is its key's, not its value's. */
	locate(ps, k.pos[k.n - 1], &line, &col);
	if ((v = parse_value(ps, depth)) == NULL)
		goto done;
	v->key = xstrdup(k.part[k.n - 1]);
	v->line = line;
	v->col = col;
	rc = add(ps, t, v, k.pos[k.n - 1]);
done:
	key_clear(&k);
	return rc;
}

/* [a.b.c]: finds or makes the table and makes it current. */
static int
parse_header(struct parser *ps)
{
	struct toml_value	*t = ps->root, *sub;
	struct key		 k;
	char			 name[128], d[32];
	int			 i, last, rc = -1;

	if (peekn(ps, 1) == '[')
		return fail(ps, ps->pos, "arrays of tables ([[...]]) are not "
		    "supported");
	ps->pos++;
	if (parse_key(ps, &k) == -1)
		goto done;
	if (peek(ps) != ']') {
		fail(ps, ps->pos, "expected ']' at the end of a table header, "
		    "found %s", describe(ps, ps->pos, d, sizeof(d)));
		goto done;
	}
	ps->pos++;
	for (i = 0; i < k.n; i++) {
		last = i == k.n - 1;
		key_name("", &k, i + 1, name, sizeof(name));
		sub = find(t, k.part[i]);
		if (sub == NULL) {
			sub = node(ps, TOML_TABLE, k.pos[i]);
			sub->how = last ? HOW_HEADER : HOW_IMPLICIT;
			sub->key = xstrdup(k.part[i]);
			if (add(ps, t, sub, k.pos[i]) == -1)
				goto done;
		} else if (sub->kind != TOML_TABLE) {
			fail(ps, k.pos[i], "key %s is already a value (line "
			    "%d), not a table", name, sub->line);
			goto done;
		} else if (sub->how == HOW_INLINE) {
			fail(ps, k.pos[i], "table %s is an inline table (line "
			    "%d) and cannot be extended", name, sub->line);
			goto done;
		} else if (last && sub->how != HOW_IMPLICIT) {
			fail(ps, k.pos[i], "table %s is already defined (line "
			    "%d)", name, sub->line);
			goto done;
		} else if (last) {
			sub->how = HOW_HEADER;
			locate(ps, k.pos[i], &sub->line, &sub->col);
		}
		t = sub;
	}
	ps->cur = t;
	snprintf(ps->curname, sizeof(ps->curname), "%s", name);
	rc = end_of_line(ps, "a table header");
done:
	key_clear(&k);
	return rc;
}

struct toml_value *
toml_parse(const char *data, size_t len, struct toml_error *err)
{
	struct parser	 ps;
	size_t		 bad;
	int		 c;

	memset(&ps, 0, sizeof(ps));
	ps.s = data;
	ps.len = len;
	ps.err = err;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (len > TOML_MAX_INPUT) {
		if (err != NULL) {
			snprintf(err->reason, sizeof(err->reason), "larger than "
			    "%d bytes", TOML_MAX_INPUT);
			snprintf(err->msg, sizeof(err->msg), "%s", err->reason);
		}
		return NULL;
	}
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		ps.pos = ps.start = 3;
	if ((bad = utf8_check((const unsigned char *)data, len)) != len) {
		fail(&ps, bad, "invalid UTF-8 (byte 0x%02x)",
		    (unsigned char)data[bad]);
		return NULL;
	}
	ps.root = ps.cur = node(&ps, TOML_TABLE, ps.start);
	ps.root->how = HOW_ROOT;
	for (;;) {
		skip_ws(&ps);
		c = peek(&ps);
		if (c == -1)
			break;
		if (newline(&ps))
			continue;
		if (c == '#') {
			if (skip_comment(&ps) == -1 ||
			    end_of_line(&ps, "a comment") == -1)
				goto bad;
		} else if (c == '[') {
			if (parse_header(&ps) == -1)
				goto bad;
		} else if (parse_keyval(&ps, ps.cur, 0) == -1 ||
		    end_of_line(&ps, "a value") == -1)
			goto bad;
	}
	return ps.root;
bad:
	toml_free(ps.root);
	return NULL;
}
