/* error.c - filling struct cs_error. */
#include "error.h"
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

int cs_error_set(struct cs_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->status = status;
	err->code = cs_status_code(status);
	err->retry = 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}
