/*
 * Helpers the target files share. See common.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "targets/common.h"

int
target_path_chars_ok(const char *s)
{
	const char	*c;

	for (c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' ||
		    *c == '/' || *c == '-'))
			return 0;
	return 1;
}

int
target_fail(struct target_err *err, int id, const char *fmt, ...)
{
	va_list	 ap;

	err->id = id;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return -1;
}
