/*
 * token.c - `chatsync dev-keys` and `chatsync token`: a local signing key, its
 * JWKS, and tokens signed with it, so that the stack can run without Clerk.
 * The key making and signing live in cli/devkeys.c, where the unit tests,
 * fuzz targets and the bench's token minter use them too.
 */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "devkeys.h"
#include "document.h"
#include "json.h"

#define DEV_KID "dev-1"
#define DEV_KEY_MAX (64 * 1024)
#define DEFAULT_TTL_S 3600
#define MAX_TTL_S (10LL * 365 * 24 * 3600)

static const char dev_keys_usage[] = "usage: chatsync dev-keys DIR\n";
static const char token_usage[] = "usage: chatsync token USER_ID [--ttl SECONDS]\n";

static int is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* mkdir -p, new directories 0700. */
static int make_dirs(const char *path)
{
	struct cs_buf b = CS_BUF_INIT;
	struct stat st;
	size_t i;
	int rc = -1;

	cs_buf_puts(&b, path);
	for (i = 1; i <= b.len; i++) {
		if (b.data[i] != '/' && b.data[i] != '\0')
			continue;
		b.data[i] = '\0';
		if (mkdir(b.data, 0700) < 0 && errno != EEXIST)
			goto out;
		if (i < b.len)
			b.data[i] = '/';
	}
	if (stat(path, &st) < 0)
		goto out;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto out;
	}
	rc = 0;
out:
	cs_buf_release(&b);
	return rc;
}

/* Writes path whole or not at all (a temporary file renamed over it), with mode. */
static int write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	struct cs_buf tmp = CS_BUF_INIT;
	size_t done = 0;
	int fd = -1, rc = -1, saved;

	cs_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto out;
	if (fchmod(fd, mode) < 0) /* open's mode is filtered by the umask */
		goto out;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		done += (size_t)n;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp.data, path) < 0)
		goto out;
	rc = 0;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp.data);
	cs_buf_release(&tmp);
	errno = saved;
	return rc;
}

static int is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cli_token_dev_keys_command(int argc, char **argv)
{
	struct cs_buf key_path = CS_BUF_INIT, jwks_path = CS_BUF_INIT, jwks = CS_BUF_INIT;
	char *pem = NULL, *jwk = NULL, err[256];
	const char *dir;
	int status = 1;

	if (argc == 2 && is_help(argv[1])) {
		fputs(dev_keys_usage, stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
		fputs(dev_keys_usage, stderr);
		return 2;
	}
	dir = argv[1];
	cs_buf_printf(&key_path, "%s/dev-key.pem", dir);
	cs_buf_printf(&jwks_path, "%s/jwks.json", dir);
	if (is_file(key_path.data) && is_file(jwks_path.data)) {
		printf("dev keys already in %s\n", dir);
		status = 0;
		goto out;
	}
	if (make_dirs(dir) < 0) {
		fprintf(stderr, "chatsync dev-keys: could not create directory \"%s\": %s\n", dir,
			strerror(errno));
		goto out;
	}
	if (cli_devkeys_make(DEV_KID, &pem, &jwk, err, sizeof err) < 0) {
		fprintf(stderr, "chatsync dev-keys: %s\n", err);
		goto out;
	}
	cs_buf_printf(&jwks, "{\"keys\":[%s]}\n", jwk);
	/* The key first: a JWKS without its key would be a set nobody can sign for. */
	if (write_file(key_path.data, pem, strlen(pem), 0600) < 0) {
		fprintf(stderr, "chatsync dev-keys: could not write \"%s\": %s\n", key_path.data,
			strerror(errno));
		goto out;
	}
	if (write_file(jwks_path.data, jwks.data, jwks.len, 0644) < 0) {
		fprintf(stderr, "chatsync dev-keys: could not write \"%s\": %s\n", jwks_path.data,
			strerror(errno));
		goto out;
	}
	printf("wrote %s and %s\n", key_path.data, jwks_path.data);
	status = 0;
out:
	free(pem);
	free(jwk);
	cs_buf_release(&key_path);
	cs_buf_release(&jwks_path);
	cs_buf_release(&jwks);
	return status;
}

static int read_key(const char *path, struct cs_buf *b)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t n;
	int rc = -1;

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b->len + n > DEV_KEY_MAX) {
			errno = EFBIG;
			goto out;
		}
		cs_buf_append(b, chunk, n);
	}
	if (ferror(f)) {
		errno = EIO;
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

static void dev_key_path(struct cs_buf *b)
{
	const char *key = getenv("DEV_KEY_FILE"), *run = getenv("CHATSYNC_RUN_DIR");

	if (key && *key)
		cs_buf_puts(b, key);
	else if (run && *run)
		cs_buf_printf(b, "%s/dev/dev-key.pem", run);
	else
		cs_buf_puts(b, ".run/dev/dev-key.pem");
}

/* https:// + the issuer domain without any scheme or trailing slash. */
static void dev_issuer(struct cs_buf *b)
{
	const char *domain = getenv("CLERK_JWT_ISSUER_DOMAIN"), *scheme;
	size_t len;

	if (!domain || !*domain)
		domain = "chatsync.local";
	scheme = strstr(domain, "://");
	if (scheme)
		domain = scheme + 3;
	len = strlen(domain);
	while (len > 0 && domain[len - 1] == '/')
		len--;
	cs_buf_puts(b, "https://");
	cs_buf_append(b, domain, len);
}

static int parse_ttl(const char *s, long long *ttl)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > MAX_TTL_S)
		return -1;
	*ttl = v;
	return 0;
}

int cli_token_command(int argc, char **argv)
{
	struct cs_buf key_path = CS_BUF_INIT, key = CS_BUF_INIT, iss = CS_BUF_INIT;
	const char *user = NULL, *ttl_arg = NULL, *azp, *aud;
	long long ttl = DEFAULT_TTL_S, now;
	json_t *claims = NULL;
	char *claims_json = NULL, *token = NULL, err[256];
	int i, status = 1;

	for (i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(token_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
			ttl_arg = argv[++i];
		} else if (strncmp(argv[i], "--ttl=", 6) == 0) {
			ttl_arg = argv[i] + 6;
		} else if (argv[i][0] != '-' && !user) {
			user = argv[i];
		} else {
			fputs(token_usage, stderr);
			return 2;
		}
	}
	if (!user) {
		fputs(token_usage, stderr);
		return 2;
	}
	if (ttl_arg && parse_ttl(ttl_arg, &ttl) < 0) {
		fprintf(stderr, "chatsync token: --ttl: must be 1 to %lld seconds\n", MAX_TTL_S);
		return 2;
	}
	if (!cs_document_id_fits(user, strlen(user))) {
		fprintf(stderr, "chatsync token: USER_ID: must be 1 to %d bytes of UTF-8 text\n",
			CS_ID_MAX);
		return 2;
	}

	dev_key_path(&key_path);
	if (read_key(key_path.data, &key) < 0) {
		fprintf(stderr,
			"chatsync token: could not read dev key \"%s\": %s (make one with chatsync dev-keys DIR, "
			"or set DEV_KEY_FILE)\n",
			key_path.data, strerror(errno));
		goto out;
	}
	dev_issuer(&iss);
	now = (long long)time(NULL);
	claims = json_pack("{s:s, s:s, s:I, s:I, s:I}", "sub", user, "iss", iss.data, "iat",
			   (json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)(now + ttl));
	azp = getenv("DEV_TOKEN_AZP");
	aud = getenv("JWT_AUDIENCE");
	if (!claims || (azp && *azp && json_object_set_new(claims, "azp", json_string(azp)) < 0) ||
	    (aud && *aud && json_object_set_new(claims, "aud", json_string(aud)) < 0) ||
	    !(claims_json = json_dumps(claims, JSON_COMPACT))) {
		fprintf(stderr,
			"chatsync token: could not build the claims (is DEV_TOKEN_AZP or "
			"JWT_AUDIENCE valid UTF-8?)\n");
		goto out;
	}
	if (cli_devkeys_sign(key.data, key.len, DEV_KID, claims_json, &token, err, sizeof err) <
	    0) {
		fprintf(stderr, "chatsync token: %s (key \"%s\")\n", err, key_path.data);
		goto out;
	}
	printf("%s\n", token);
	status = 0;
out:
	free(token);
	free(claims_json);
	json_decref(claims);
	cs_buf_release(&key_path);
	cs_buf_release(&key);
	cs_buf_release(&iss);
	return status;
}
