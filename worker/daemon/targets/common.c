/*
 * Helpers the target files share. See common.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "targets/common.h"

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
