/*
 * test_http_response.c - what http_response.c writes on the FastCGI
 * connection. The connection is a SOCK_SEQPACKET pair, so that each write()
 * of the service arrives as one message and the test can count them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcgiapp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_internal.h"

enum { BEGIN_REQUEST = 1, END_REQUEST = 3, PARAMS = 4, STDIN = 5, STDOUT = 6 };
#define REQUEST_ID 7

static size_t put_record(unsigned char *at, int type, const void *content, size_t len)
{
	unsigned char header[8] = { 1,
				    (unsigned char)type,
				    0,
				    REQUEST_ID,
				    (unsigned char)(len >> 8),
				    (unsigned char)len,
				    0,
				    0 };

	memcpy(at, header, sizeof header);
	if (len)
		memcpy(at + sizeof header, content, len);
	return sizeof header + len;
}

static size_t put_param(unsigned char *at, const char *name, const char *value)
{
	size_t name_len = strlen(name), value_len = strlen(value);

	at[0] = (unsigned char)name_len;
	at[1] = (unsigned char)value_len;
	memcpy(at + 2, name, name_len);
	memcpy(at + 2 + name_len, value, value_len);
	return 2 + name_len + value_len;
}

/*
 * nginx's side: one request over a kept connection (FCGI_KEEP_CONN), its head
 * in one message and a body of body_len bytes in records of 8,000 (each its
 * own message: libfcgi reads 8 KiB at a time, and a longer message would be cut).
 */
static void send_request(int fd, const char *method, const char *uri, size_t body_len)
{
	const unsigned char begin[8] = { 0, 1 /* responder */, 1 /* FCGI_KEEP_CONN */ };
	unsigned char params[128], message[8192];
	size_t params_len = 0, len = 0;

	params_len += put_param(params + params_len, "REQUEST_METHOD", method);
	params_len += put_param(params + params_len, "REQUEST_URI", uri);
	params_len += put_param(params + params_len, "HTTP_X_REQUEST_ID", "unit-1");
	len += put_record(message + len, BEGIN_REQUEST, begin, sizeof begin);
	len += put_record(message + len, PARAMS, params, params_len);
	len += put_record(message + len, PARAMS, NULL, 0);
	assert_int_equal(write(fd, message, len), (ssize_t)len);
	for (size_t sent = 0; sent < body_len;) {
		size_t n = body_len - sent < 8000 ? body_len - sent : 8000;

		len = put_record(message, STDIN, NULL, 0);
		message[4] = (unsigned char)(n >> 8);
		message[5] = (unsigned char)n;
		memset(message + len, 'x', n);
		assert_int_equal(write(fd, message, len + n), (ssize_t)(len + n));
		sent += n;
	}
	len = put_record(message, STDIN, NULL, 0);
	assert_int_equal(write(fd, message, len), (ssize_t)len);
}

struct record {
	int type;
	size_t len;
	const unsigned char *content;
};

/* Splits one message into its records; returns how many. */
static size_t read_records(const unsigned char *data, size_t len, struct record *out, size_t max)
{
	size_t n = 0, at = 0;

	while (at + 8 <= len && n < max) {
		size_t content = ((size_t)data[at + 4] << 8) | data[at + 5];

		assert_int_equal(data[at], 1);
		assert_int_equal((data[at + 2] << 8) | data[at + 3], REQUEST_ID);
		out[n].type = data[at + 1];
		out[n].len = content;
		out[n].content = data + at + 8;
		n++;
		at += 8 + content + data[at + 6];
	}
	assert_int_equal(at, len);
	return n;
}

/* A connection kept from an earlier request: FCGX_Accept_r reads it, accepts nothing. */
static void open_connection(FCGX_Request *fcgi, int sv[2])
{
	assert_int_equal(FCGX_Init(), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	FCGX_InitRequest(fcgi, -1, 0);
	fcgi->ipcFd = sv[1];
	fcgi->keepConnection = 1;
}

/* Answers the accepted request through cs_http_respond, its body unread, and ends it as the server does. */
static void answer(FCGX_Request *fcgi)
{
	struct cs_http_exchange exchange;
	struct cs_request req;

	assert_true(fcgi->keepConnection);
	cs_http_init(&req, &exchange, NULL, fcgi);
	cs_http_respond(&req, 200, "{\"chats\":[]}", 12);
	cs_http_finish(&req);
	cs_http_release(&req);
	FCGX_Finish_r(fcgi);
}

/*
 * Answers one request; returns the first message the service wrote, and
 * whether it wrote another one after it.
 */
static ssize_t answer_one(const char *method, unsigned char *message, size_t size, int *more)
{
	FCGX_Request fcgi;
	unsigned char extra[64];
	int sv[2];
	ssize_t got;

	open_connection(&fcgi, sv);
	send_request(sv[0], method, "/api/chats", 0);
	assert_int_equal(FCGX_Accept_r(&fcgi), 0);
	answer(&fcgi);
	got = recv(sv[0], message, size, MSG_DONTWAIT);
	*more = recv(sv[0], extra, sizeof extra, MSG_DONTWAIT) >= 0 || errno != EAGAIN;
	FCGX_Free(&fcgi, 1);
	close(sv[0]);
	return got;
}

static void test_answer_and_end_of_request_go_out_in_one_write(void **state)
{
	unsigned char message[4096];
	struct record records[8];
	int more = 0;
	ssize_t len = answer_one("GET", message, sizeof message, &more);
	size_t n;

	(void)state;
	assert_true(len > 0);
	n = read_records(message, (size_t)len, records, 8);
	assert_int_equal(n, 3);
	assert_int_equal(records[0].type, STDOUT);
	assert_non_null(memmem(records[0].content, records[0].len, "Status: 200 OK\r\n", 16));
	assert_memory_equal(records[0].content + records[0].len - 12, "{\"chats\":[]}", 12);
	/* the stream's end, then the request's: exit status 0, FCGI_REQUEST_COMPLETE */
	assert_int_equal(records[1].type, STDOUT);
	assert_int_equal(records[1].len, 0);
	assert_int_equal(records[2].type, END_REQUEST);
	assert_int_equal(records[2].len, 8);
	assert_memory_equal(records[2].content, "\0\0\0\0\0\0\0\0", 8);
	/* and FCGX_Finish_r wrote nothing more: nginx had everything in one wake-up */
	assert_false(more);
}

static void test_head_answer_has_no_body_and_still_ends_the_request(void **state)
{
	unsigned char message[4096];
	struct record records[8];
	int more = 0;
	ssize_t len = answer_one("HEAD", message, sizeof message, &more);

	(void)state;
	assert_true(len > 0);
	assert_int_equal(read_records(message, (size_t)len, records, 8), 3);
	assert_non_null(memmem(records[0].content, records[0].len, "Content-Length: 12\r\n", 20));
	assert_memory_equal(records[0].content + records[0].len - 4, "\r\n\r\n", 4);
	assert_int_equal(records[2].type, END_REQUEST);
	assert_false(more);
}

/*
 * A body the handler never read (an early 401 or 413) must not be taken for
 * the next request on the kept connection: libfcgi would drop the connection
 * that nginx has taken back, and nginx's next request on it would fail.
 */
static void test_unread_body_is_skipped_and_the_next_request_is_read(void **state)
{
	FCGX_Request fcgi;
	unsigned char message[4096];
	int sv[2];

	(void)state;
	open_connection(&fcgi, sv);
	send_request(sv[0], "POST", "/api/chats", 20000);
	assert_int_equal(FCGX_Accept_r(&fcgi), 0);
	answer(&fcgi);
	assert_true(recv(sv[0], message, sizeof message, MSG_DONTWAIT) > 0);

	send_request(sv[0], "GET", "/second", 0);
	assert_int_equal(FCGX_Accept_r(&fcgi), 0);
	assert_string_equal(FCGX_GetParam("REQUEST_URI", fcgi.envp), "/second");
	FCGX_Free(&fcgi, 1);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_and_end_of_request_go_out_in_one_write),
		cmocka_unit_test(test_head_answer_has_no_body_and_still_ends_the_request),
		cmocka_unit_test(test_unread_body_is_skipped_and_the_next_request_is_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
