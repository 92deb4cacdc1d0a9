/*
 * http_internal.h - the FastCGI side of a request: shared by the two files
 * of the http module (http_request.c, http_response.c) and the server, which
 * makes each request and ends it. Handlers never include it.
 */
#ifndef CS_HTTP_INTERNAL_H
#define CS_HTTP_INTERNAL_H

#include <fcgiapp.h>

#include "buf.h"
#include "http.h"

struct cs_http_exchange {
	FCGX_Request *fcgi;
	struct cs_buf headers; /* added for the next response head */
	int status;            /* the status answered; 0: none yet, 499: abandoned */
	int streaming;
};

/* libfcgi counts in int: lengths stay size_t here and reach it in chunks. */
#define CS_HTTP_IO_CHUNK ((size_t)1 << 20)

/*
 * Makes req the request accepted on fcgi, its FastCGI side in *exchange
 * (both the caller's, usually on its stack, until cs_http_release): method,
 * path and request id are read, nothing is answered yet.
 */
void cs_http_init(struct cs_request *req, struct cs_http_exchange *exchange,
		  struct cs_server *server, FCGX_Request *fcgi);
/* Reads the JSON body of at most max_body bytes into req->body; 0, or -1 after answering. */
int cs_http_read_body(struct cs_request *req, long max_body);
/* Sends what is still buffered (a stream has sent all already). */
void cs_http_finish(struct cs_request *req);
/* The status answered, for the access log and the metrics: 0 when none, 499 abandoned. */
int cs_http_status(const struct cs_request *req);
/* Frees what the request allocated (its arena, its headers). */
void cs_http_release(struct cs_request *req);

#endif
