/*
 * fcgi_hello.c - the FastCGI ceiling: the smallest responder shaped like a
 * chatsync service (docs/BENCHMARKS.md, "Limits").
 *
 * Threads block in FCGX_Accept_r on one shared unix socket and answer a tiny
 * JSON body, as common/http_response.c does, with nothing else: no routing, no auth,
 * no Postgres. nginx -> this is the most a FastCGI service behind nginx can
 * do on this machine. With QUERY_STRING "bytes=N" (10 to 256 KiB; 400 for any
 * other N) the body is N bytes of JSON instead, to price the transfer of a
 * large answer alone.
 * Built and started by tests/bench/run.sh; SIGTERM ends it (the default
 * action: nothing here needs a clean shutdown).
 *
 *   fcgi_hello SOCKET_PATH [THREADS]
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PAD_MAX (256 * 1024)

static int listen_fd;
static char pad[PAD_MAX];

/* {"pad":"xxx...x"}: n bytes in all (n >= 10) */
static void put_padded(FCGX_Stream *out, long n)
{
	FCGX_FPrintF(out,
		     "Status: 200 OK\r\nContent-Type: application/json\r\n"
		     "Content-Length: %ld\r\n\r\n{\"pad\":\"",
		     n);
	FCGX_PutStr(pad, (int)(n - 10), out);
	FCGX_PutStr("\"}", 2, out);
}

static void *serve(void *arg)
{
	static const char answer[] =
		"Status: 200 OK\r\n"
		"Content-Type: application/json\r\n"
		"Content-Length: 17\r\n\r\n"
		"{\"hello\":\"world\"}";
	/* an error (wrk counts it), not 17 bytes under the asked size's label */
	static const char bad_size[] =
		"Status: 400 Bad Request\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 25\r\n\r\n"
		"bytes: 10 to 262144 only\n";
	FCGX_Request req;

	(void)arg;
	FCGX_InitRequest(&req, listen_fd, 0);
	while (FCGX_Accept_r(&req) >= 0) {
		const char *query = FCGX_GetParam("QUERY_STRING", req.envp);
		int sized = query && !strncmp(query, "bytes=", 6);
		long n = sized ? strtol(query + 6, NULL, 10) : 0;

		if (!sized)
			FCGX_PutStr(answer, (int)sizeof(answer) - 1, req.out);
		else if (n >= 10 && n <= PAD_MAX)
			put_padded(req.out, n);
		else
			FCGX_PutStr(bad_size, (int)sizeof(bad_size) - 1, req.out);
		FCGX_Finish_r(&req);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long threads = argc > 2 ? strtol(argv[2], NULL, 10) : 32, i;
	pthread_attr_t attr;
	pthread_t tid;

	if (argc < 2 || threads < 1) {
		fprintf(stderr, "usage: fcgi_hello SOCKET_PATH [THREADS]\n");
		return 2;
	}
	memset(pad, 'x', sizeof(pad));
	if (FCGX_Init() != 0)
		return 1;
	umask(0); /* nginx's workers run as another user */
	listen_fd = FCGX_OpenSocket(argv[1], 1024);
	if (listen_fd < 0) {
		perror(argv[1]);
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (i = 0; i < threads; i++)
		if (pthread_create(&tid, &attr, serve, NULL) != 0)
			return 1;
	serve(NULL);
	return 0;
}
