/*
 * jwks_read.c - the key set document's bytes: read from a file, or fetched
 * with libcurl (http or https, a few seconds at most, no signals), never more
 * than CS_LIMIT_JWKS_BYTES. Parsing them is jwks.c's.
 */
#include "jwks_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bounds.h"

#define JWKS_CONNECT_TIMEOUT_MS 2000L
#define JWKS_FETCH_TIMEOUT_MS 5000L

static int read_jwks_file(const char *path, struct cs_buf *b, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n;
	int rc = -1;

	if (!f) {
		snprintf(err, errlen, "could not open jwks file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b->len + n > CS_LIMIT_JWKS_BYTES) {
			snprintf(err, errlen, "jwks file \"%s\" is larger than %d bytes", path,
				 CS_LIMIT_JWKS_BYTES);
			goto out;
		}
		cs_buf_append(b, chunk, n);
	}
	if (ferror(f)) {
		snprintf(err, errlen, "could not read jwks file \"%s\"", path);
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

struct fetch_state {
	struct cs_buf *body;
	int too_large;
};

static size_t fetch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct fetch_state *st = userdata;
	size_t n = size * nmemb;

	if (st->body->len + n > CS_LIMIT_JWKS_BYTES) {
		st->too_large = 1;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	cs_buf_append(st->body, ptr, n);
	return n;
}

static int fetch_jwks_url(const char *url, struct cs_buf *b, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct fetch_state st = { b, 0 };
	CURL *curl = curl_easy_init();
	CURLcode res;
	int rc = -1;

	if (!curl) {
		snprintf(err, errlen, "could not start a jwks fetch");
		return -1;
	}
	/* NOSIGNAL: timeouts without SIGALRM, which is not thread-safe. */
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, JWKS_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, JWKS_FETCH_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CS_LIMIT_JWKS_BYTES);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "chatsync-auth");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fetch_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
	res = curl_easy_perform(curl);
	if (st.too_large) {
		snprintf(err, errlen, "jwks at \"%s\" is larger than %d bytes", url,
			 CS_LIMIT_JWKS_BYTES);
		goto out;
	}
	if (res != CURLE_OK) {
		snprintf(err, errlen, "could not fetch jwks from \"%s\": %s", url,
			 curl_err[0] ? curl_err : curl_easy_strerror(res));
		goto out;
	}
	rc = 0;
out:
	curl_easy_cleanup(curl);
	return rc;
}

int cs_jwks__read(const char *file, const char *url, struct cs_buf *body, char *err, size_t errlen)
{
	if (file)
		return read_jwks_file(file, body, err, errlen);
	return fetch_jwks_url(url, body, err, errlen);
}
