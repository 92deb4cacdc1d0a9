/*
 * http_response.c - answering a request: the response head, JSON bodies,
 * the API.md error body, and streams.
 */
#include "http_internal.h"
#include "log.h"
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void cs_http_add_header(struct cs_request *req, const char *name, const char *value)
{
	cs_buf_printf(&req->exchange->headers, "%s: %s\r\n", name, value);
}

void cs_http_etag(struct cs_request *req, const char *version)
{
	char etag[40];

	snprintf(etag, sizeof(etag), "\"%.32s\"", version);
	cs_http_add_header(req, "ETag", etag);
}

static int put_all(FCGX_Stream *out, const char *data, size_t len)
{
	while (len > 0) {
		size_t n = len < CS_HTTP_IO_CHUNK ? len : CS_HTTP_IO_CHUNK;

		if (FCGX_PutStr(data, (int)n, out) != (int)n)
			return -1;
		data += n;
		len -= n;
	}
	return 0;
}

static void format_head(struct cs_request *req, struct cs_buf *head, int status,
			const char *content_type, long long content_length)
{
	struct cs_http_exchange *exchange = req->exchange;

	cs_buf_printf(head,
		      "Status: %d %s\r\nContent-Type: %s\r\nX-Request-Id: %s\r\n"
		      "Cache-Control: no-store\r\n",
		      status, cs_status_reason(status), content_type, req->request_id);
	if (content_length >= 0)
		cs_buf_printf(head, "Content-Length: %lld\r\n", content_length);
	if (exchange->headers.len)
		cs_buf_append(head, exchange->headers.data, exchange->headers.len);
	cs_buf_puts(head, "\r\n");
	exchange->status = status;
}

static void write_head(struct cs_request *req, int status, const char *content_type,
		       long long content_length)
{
	struct cs_buf head = CS_BUF_INIT;

	format_head(req, &head, status, content_type, content_length);
	put_all(req->exchange->fcgi->out, head.data, head.len);
	cs_buf_release(&head);
}

/* FastCGI's record: 8 bytes of header, at most 65,535 of content (the FastCGI spec) */
#define RECORD_CONTENT_MAX 65528 /* a multiple of 8 */
#define FCGI_END_REQUEST_TYPE 3
#define FCGI_STDOUT_TYPE 6

static void put_record_header(struct cs_buf *out, int type, int request_id, size_t content_len)
{
	unsigned char header[8] = { 1,
				    (unsigned char)type,
				    (unsigned char)(request_id >> 8),
				    (unsigned char)request_id,
				    (unsigned char)(content_len >> 8),
				    (unsigned char)content_len,
				    0,
				    0 };

	cs_buf_append(out, header, sizeof header);
}

/*
 * The part of the request's body its handler did not read (an answer given
 * before reading it: 401, 404, 413...). Over a kept connection libfcgi would
 * read it as the start of the next request and drop the connection that nginx
 * has taken back by then. nginx has the whole body before it connects and
 * bounds it (client_max_body_size), so this waits for no client.
 */
static void skip_unread_body(FCGX_Stream *in)
{
	/* small: sync-svc's threads have 64 KiB stacks, and libfcgi reads 8 KiB at a time anyway */
	char scratch[1024];

	while (FCGX_GetStr(scratch, sizeof scratch, in) > 0)
		;
}

/* A stream left as FCGX_FClose leaves it: FCGX_Finish_r and any later write skip it. */
static void mark_closed(FCGX_Stream *out)
{
	out->wasFCloseCalled = out->isClosed = 1;
	out->rdNext = out->stop = out->wrNext;
}

/*
 * A whole answer in one write: its FCGI_STDOUT records, the empty one that
 * ends the stream, and FCGI_END_REQUEST. libfcgi would cut the answer into
 * 8 KiB records, each its own write() and its own wake-up of nginx, and end
 * the request in FCGX_Finish_r with one write more: over a kept connection
 * nginx finishes a request only at FCGI_END_REQUEST, so that write cost a
 * wake-up of its own. Only for an answer that is the request's first output
 * (libfcgi's buffer is then empty, so nothing can come before it), after the
 * body left unread. Once it is written, both output streams are marked closed
 * as FCGX_FClose leaves them, so that FCGX_Finish_r writes nothing; after a
 * failed write they stay open, and libfcgi's own write fails too and closes
 * the connection.
 */
static int write_records(FCGX_Request *fcgi, const char *head, size_t head_len, const char *body,
			 size_t body_len)
{
	/* FCGI_END_REQUEST's body: exit status 0, FCGI_REQUEST_COMPLETE (0) */
	static const unsigned char request_complete[8] = { 0 };
	size_t total = head_len + body_len,
	       records = (total + RECORD_CONTENT_MAX - 1) / RECORD_CONTENT_MAX;
	struct cs_buf out = CS_BUF_INIT;
	size_t done = 0;
	int rc = 0;

	skip_unread_body(fcgi->in);
	cs_buf_grow(&out, total + (records + 2) * 8 + sizeof request_complete);
	for (size_t at = 0; at < total; at += RECORD_CONTENT_MAX) {
		size_t n = total - at < RECORD_CONTENT_MAX ? total - at : RECORD_CONTENT_MAX;
		size_t from_head = at < head_len ? (head_len - at < n ? head_len - at : n) : 0;

		put_record_header(&out, FCGI_STDOUT_TYPE, fcgi->requestId, n);
		if (from_head)
			cs_buf_append(&out, head + at, from_head);
		if (n > from_head)
			cs_buf_append(&out, body + (at + from_head - head_len), n - from_head);
	}
	put_record_header(&out, FCGI_STDOUT_TYPE, fcgi->requestId, 0);
	put_record_header(&out, FCGI_END_REQUEST_TYPE, fcgi->requestId, sizeof request_complete);
	cs_buf_append(&out, request_complete, sizeof request_complete);
	while (done < out.len) {
		ssize_t w = write(fcgi->ipcFd, out.data + done, out.len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = -1; /* nginx went away: as a failed FCGX_PutStr, nothing to do */
			break;
		}
		done += (size_t)w;
	}
	if (rc == 0) {
		mark_closed(fcgi->out);
		mark_closed(fcgi->err);
	}
	cs_buf_release(&out);
	return rc;
}

void cs_http_respond_as(struct cs_request *req, int status, const char *content_type,
			const char *body, size_t len)
{
	struct cs_buf head = CS_BUF_INIT;

	if (req->exchange->status) {
		cs_log_error("second response to one request (%d after %d)", status,
			     req->exchange->status);
		return;
	}
	format_head(req, &head, status, content_type, (long long)len);
	if (strcmp(req->method, "HEAD") == 0)
		len = 0;
	write_records(req->exchange->fcgi, head.data, head.len, body, len);
	cs_buf_release(&head);
}

void cs_http_respond(struct cs_request *req, int status, const char *body, size_t len)
{
	cs_http_respond_as(req, status, "application/json", body, len);
}

static void send_error(struct cs_request *req, int status, const char *code, const char *message)
{
	struct cs_buf body = CS_BUF_INIT;

	if (status == 401)
		cs_http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	if (status == 503)
		cs_http_add_header(req, "Retry-After", "1");
	cs_buf_printf(&body, "{\"error\":{\"code\":\"%s\",\"message\":", code);
	cs_buf_json_string(&body, message, strlen(message));
	cs_buf_puts(&body, ",\"requestId\":");
	cs_buf_json_string(&body, req->request_id, strlen(req->request_id));
	cs_buf_puts(&body, "}}");
	cs_http_respond(req, status, body.data, body.len);
	cs_buf_release(&body);
}

void cs_http_error(struct cs_request *req, int status, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	send_error(req, status, cs_status_code(status), message);
}

void cs_http_fail(struct cs_request *req, const struct cs_error *err)
{
	send_error(req, err->status, err->code ? err->code : cs_status_code(err->status),
		   err->message);
}

int cs_http_stream_begin(struct cs_request *req, const char *content_type)
{
	cs_http_add_header(req, "X-Accel-Buffering", "no");
	write_head(req, 200, content_type, -1);
	req->exchange->streaming = 1;
	return FCGX_FFlush(req->exchange->fcgi->out) < 0 ? -1 : 0;
}

int cs_http_stream_write(struct cs_request *req, const char *data, size_t len)
{
	FCGX_Stream *out = req->exchange->fcgi->out;

	if (put_all(out, data, len) < 0)
		return -1;
	return FCGX_FFlush(out) < 0 ? -1 : 0;
}

int cs_http_connection_fd(const struct cs_request *req)
{
	return req->exchange->fcgi->ipcFd;
}

int cs_http_responded(const struct cs_request *req)
{
	return req->exchange->status != 0;
}

void cs_http_abandon(struct cs_request *req)
{
	if (!req->exchange->status)
		req->exchange->status = 499;
}

int cs_http_status(const struct cs_request *req)
{
	return req->exchange->status;
}

void cs_http_finish(struct cs_request *req)
{
	if (!req->exchange->streaming)
		FCGX_FFlush(req->exchange->fcgi->out);
}

void cs_http_release(struct cs_request *req)
{
	cs_buf_release(&req->exchange->headers);
	cs_arena_release(&req->arena);
}
