/*
 * Python's json.dumps(sort_keys=True), the text osbuild hashes into its
 * stage ids (see pyjson.h).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/pyjson.h"

void
pyjson_str(struct buf *b, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s, *end = p + len;
	uint32_t		 cp;
	int			 n, i;

	buf_addstr(b, "\"");
	while (p < end) {
		unsigned char c = *p;

		if (c == '"' || c == '\\') {
			buf_printf(b, "\\%c", c);
			p++;
			continue;
		}
		if (c >= 0x20 && c < 0x7f) {
			buf_add(b, p, 1);
			p++;
			continue;
		}
		switch (c) {
		case '\n': buf_addstr(b, "\\n"); p++; continue;
		case '\r': buf_addstr(b, "\\r"); p++; continue;
		case '\t': buf_addstr(b, "\\t"); p++; continue;
		case '\b': buf_addstr(b, "\\b"); p++; continue;
		case '\f': buf_addstr(b, "\\f"); p++; continue;
		}
		/* UTF-8 to code point; json-c only hands us valid UTF-8. */
		if (c < 0x80)
			cp = c, n = 1;
		else if ((c & 0xe0) == 0xc0)
			cp = c & 0x1f, n = 2;
		else if ((c & 0xf0) == 0xe0)
			cp = c & 0x0f, n = 3;
		else
			cp = c & 0x07, n = 4;
		for (i = 1; i < n && p + i < end; i++)
			cp = (cp << 6) | (p[i] & 0x3f);
		p += n;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
			    0xdc00 + (cp & 0x3ff));
		} else
			buf_printf(b, "\\u%04x", cp);
	}
	buf_addstr(b, "\"");
}

static int
keycmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
pyfloat(struct buf *b, double d)
{
	char	 s[64];
	int	 prec;

	if (isnan(d)) {
		buf_addstr(b, "NaN");
		return;
	}
	if (isinf(d)) {
		buf_addstr(b, d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	/* Shortest text that reads back the same, like Python's repr. */
	for (prec = 1; prec <= 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, d);
		if (strtod(s, NULL) == d)
			break;
	}
	if (strpbrk(s, ".e") == NULL) {
		size_t l = strlen(s);

		snprintf(s + l, sizeof(s) - l, ".0");
	}
	buf_addstr(b, s);
}

void
pyjson_dump(struct buf *b, json_object *o)
{
	size_t	 i, n;

	switch (json_object_get_type(o)) {
	case json_type_null:
		buf_addstr(b, "null");
		break;
	case json_type_boolean:
		buf_addstr(b, json_object_get_boolean(o) ? "true" : "false");
		break;
	case json_type_int:
		buf_printf(b, "%lld", (long long)json_object_get_int64(o));
		break;
	case json_type_double:
		pyfloat(b, json_object_get_double(o));
		break;
	case json_type_string:
		pyjson_str(b, json_object_get_string(o),
		    json_object_get_string_len(o));
		break;
	case json_type_array:
		buf_addstr(b, "[");
		n = json_object_array_length(o);
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_addstr(b, ", ");
			pyjson_dump(b, json_object_array_get_idx(o, i));
		}
		buf_addstr(b, "]");
		break;
	case json_type_object: {
		const char	**keys;

		n = json_object_object_length(o);
		keys = xcalloc(n + 1, sizeof(*keys));
		i = 0;
		json_object_object_foreach(o, k, v) {
			(void)v;
			keys[i++] = k;
		}
		qsort(keys, n, sizeof(*keys), keycmp);
		buf_addstr(b, "{");
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_addstr(b, ", ");
			pyjson_str(b, keys[i], strlen(keys[i]));
			buf_addstr(b, ": ");
			pyjson_dump(b, json_object_object_get(o, keys[i]));
		}
		buf_addstr(b, "}");
		free(keys);
		break;
	}
	}
}
