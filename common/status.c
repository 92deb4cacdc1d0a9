/* status.c - HTTP status → reason phrase and API.md error code, in one table. */
#include "status.h"

#include <stddef.h>

static const struct {
	int status;
	const char *reason;
	const char *code; /* NULL: never an error */
} statuses[] = {
	{ 200, "OK", NULL },
	{ 201, "Created", NULL },
	{ 400, "Bad Request", "bad_request" },
	{ 401, "Unauthorized", "unauthorized" },
	{ 404, "Not Found", "not_found" },
	{ 405, "Method Not Allowed", "method_not_allowed" },
	{ 408, "Request Timeout", "request_timeout" },
	{ 409, "Conflict", "conflict" },
	{ 412, "Precondition Failed", "precondition_failed" },
	{ 413, "Payload Too Large", "payload_too_large" },
	{ 415, "Unsupported Media Type", "unsupported_media_type" },
	{ 422, "Unprocessable Content", "answer_too_large" },
	{ 429, "Too Many Requests", "rate_limited" },
	{ 500, "Internal Server Error", "internal" },
	{ 503, "Service Unavailable", "unavailable" },
};

static int find(int status)
{
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].status == status)
			return (int)i;
	return -1;
}

const char *cs_status_reason(int status)
{
	int i = find(status);

	if (i >= 0)
		return statuses[i].reason;
	return status < 400 ? "OK" : "Internal Server Error";
}

const char *cs_status_code(int status)
{
	int i = find(status);

	return i >= 0 && statuses[i].code ? statuses[i].code : "internal";
}
