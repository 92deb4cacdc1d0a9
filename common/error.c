/* error.c - filling struct cs_error; the status → code table of API.md. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

const char *cs_error_code(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 408: return "request_timeout";
	case 409: return "conflict";
	case 412: return "precondition_failed";
	case 413: return "payload_too_large";
	case 415: return "unsupported_media_type";
	case 422: return "answer_too_large";
	case 429: return "rate_limited";
	case 503: return "unavailable";
	default: return "internal";
	}
}

int cs_error_set(struct cs_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->status = status;
	err->code = cs_error_code(status);
	err->retry = 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}
