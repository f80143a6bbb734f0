/*
 * The canonical JSON text osbuild hashes: Python's
 * json.dumps(o, sort_keys=True) with its default separators, ASCII-only
 * escapes and float repr, so that ib-build's ids are osbuild's.
 */
#ifndef IB_BUILD_PYJSON_H
#define IB_BUILD_PYJSON_H

#include <json-c/json.h>

#include <stddef.h>

#include "util.h"

/* Appends o as json.dumps(o, sort_keys=True) would write it. */
void	pyjson_dump(struct buf *, json_object *);
/* Appends the len bytes of s (valid UTF-8) as a JSON string. */
void	pyjson_str(struct buf *, const char *s, size_t len);

#endif
