/*
 * auth_rules.c - what a token must say to be accepted (auth.h lists it,
 * docs/auth.md says why): the configuration read into rules once, then per
 * token the checks of its header, before the signature, and of its claims,
 * after it.
 */
#include "auth_internal.h"
#include "document.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "json.h"

#define AUTH_DEFAULT_LEEWAY_S 5
#define AUTH_MAX_LEEWAY_S 300

int cs_auth__fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int is_set(const char *s)
{
	return s && *s;
}

/* The next non-empty item of a comma list, spaces trimmed; 0 at the end. */
static int list_next(const char **p, const char **item, size_t *len)
{
	const char *s = *p, *end;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (!*s) {
			*p = s;
			return 0;
		}
		end = s;
		while (*end && *end != ',')
			end++;
		*p = end;
		*item = s;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*len = (size_t)(end - s);
		return 1;
	}
}

static int has_space_or_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* "host", "https://host" or "https://host/" -> "https://host" (malloc'ed). */
static char *normalize_issuer(const char *in)
{
	const char *s = in, *end;
	struct cs_buf b = CS_BUF_INIT;
	const char *scheme_end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '/'))
		end--;
	if (end == s || has_space_or_control(s, (size_t)(end - s)))
		return NULL;
	scheme_end = strstr(s, "://");
	if (scheme_end && scheme_end < end) {
		size_t scheme_len = (size_t)(scheme_end - s);

		if (!((scheme_len == 5 && strncasecmp(s, "https", 5) == 0) ||
		      (scheme_len == 4 && strncasecmp(s, "http", 4) == 0)))
			return NULL;
		if (end - (scheme_end + 3) <= 0)
			return NULL;
	} else {
		cs_buf_puts(&b, "https://");
	}
	cs_buf_append(&b, s, (size_t)(end - s));
	return cs_buf_detach(&b, NULL);
}

int cs_auth__rules_init(struct cs_auth__rules *rules, const struct cs_auth_config *cfg, char *err,
			size_t errlen)
{
	const char *p, *item;
	size_t len, i;
	char reason[256];

	if (!is_set(cfg->issuer))
		return cs_auth__fail(err, errlen, "CLERK_JWT_ISSUER_DOMAIN: an issuer is required");
	rules->issuer = normalize_issuer(cfg->issuer);
	if (!rules->issuer)
		return cs_auth__fail(
			err, errlen,
			"CLERK_JWT_ISSUER_DOMAIN: must be a host name or an https:// url");

	if (cfg->leeway_s > AUTH_MAX_LEEWAY_S)
		return cs_auth__fail(err, errlen, "JWT_LEEWAY_S: must be 0 to %d seconds",
				     AUTH_MAX_LEEWAY_S);
	rules->leeway = cfg->leeway_s < 0 ? AUTH_DEFAULT_LEEWAY_S : cfg->leeway_s;

	p = is_set(cfg->algorithms) ? cfg->algorithms : "RS256";
	while (list_next(&p, &item, &len)) {
		int a = cs_jwks_alg_from_name(item, len);

		if (a < 0)
			return cs_auth__fail(
				err, errlen,
				"JWT_ALGORITHMS: \"%.*s\" is not supported (RS256, RS384, RS512)",
				len > 32 ? 32 : (int)len, item);
		if (!rules->digests[a] &&
		    !(rules->digests[a] = EVP_MD_fetch(NULL, cs_jwks_alg_digest(a), NULL))) {
			unsigned long e = ERR_get_error();

			cs_auth__fail(err, errlen, "could not load digest %s: %s",
				      cs_jwks_alg_digest(a),
				      e ? ERR_error_string(e, reason) : "unknown error");
			ERR_clear_error();
			return -1;
		}
	}
	for (i = 0; i < CS_JWKS_ALG_COUNT && !rules->digests[i]; i++)
		;
	if (i == CS_JWKS_ALG_COUNT)
		return cs_auth__fail(err, errlen, "JWT_ALGORITHMS: no algorithm is allowed");

	if (is_set(cfg->authorized_parties)) {
		p = cfg->authorized_parties;
		while (list_next(&p, &item, &len)) {
			char **grown =
				realloc(rules->parties, (rules->party_count + 1) * sizeof *grown);

			if (!grown)
				return cs_auth__fail(err, errlen, "out of memory");
			rules->parties = grown;
			while (len > 0 &&
			       item[len - 1] == '/') /* an origin has no trailing slash */
				len--;
			rules->parties[rules->party_count++] = strndup(item, len);
			if (!rules->parties[rules->party_count - 1])
				return cs_auth__fail(err, errlen, "out of memory");
		}
		if (rules->party_count == 0)
			return cs_auth__fail(err, errlen,
					     "CLERK_AUTHORIZED_PARTIES: lists no origin");
	}
	if (is_set(cfg->audience) && !(rules->audience = strdup(cfg->audience)))
		return cs_auth__fail(err, errlen, "out of memory");
	return 0;
}

void cs_auth__rules_release(struct cs_auth__rules *rules)
{
	size_t i;

	for (i = 0; i < rules->party_count; i++)
		free(rules->parties[i]);
	free(rules->parties);
	for (i = 0; i < CS_JWKS_ALG_COUNT; i++)
		EVP_MD_free(rules->digests[i]);
	free(rules->issuer);
	free(rules->audience);
}

/* A numeric date claim: JSON integers only (never a string, a float or null). */
static int time_claim(json_t *claims, const char *name, int required, long long *value,
		      int *present, char *err, size_t errlen)
{
	json_t *v = json_object_get(claims, name);

	*present = v != NULL;
	if (!v)
		return required ? cs_auth__fail(err, errlen, "token has no %s claim", name) : 0;
	if (!json_is_integer(v))
		return cs_auth__fail(err, errlen, "token %s claim is not an integer", name);
	*value = json_integer_value(v);
	return 0;
}

static int string_equals(json_t *v, const char *s)
{
	return json_is_string(v) && json_string_length(v) == strlen(s) &&
	       memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

int cs_auth__check_header(const struct cs_auth__rules *rules, json_t *header, enum cs_jwks_alg *alg,
			  const char **kid, char *err, size_t errlen)
{
	json_t *name = json_object_get(header, "alg"), *typ, *id;
	int a = json_is_string(name)
			? cs_jwks_alg_from_name(json_string_value(name), json_string_length(name))
			: -1;

	if (a < 0 || !rules->digests[a])
		return cs_auth__fail(err, errlen, "token algorithm is not allowed");
	typ = json_object_get(header, "typ");
	if (typ && !string_equals(typ, "JWT"))
		return cs_auth__fail(err, errlen, "token typ is not JWT");
	if (json_object_get(header, "crit"))
		return cs_auth__fail(err, errlen,
				     "token header has crit extensions, which are not supported");
	/* kid is an opaque map key; jku, x5u, jwk and x5c are never followed. */
	id = json_object_get(header, "kid");
	if (!json_is_string(id) || json_string_length(id) == 0 ||
	    json_string_length(id) > CS_JWKS_KID_MAX ||
	    strlen(json_string_value(id)) != json_string_length(id))
		return cs_auth__fail(err, errlen, "token header has no usable kid");
	*alg = (enum cs_jwks_alg)a;
	*kid = json_string_value(id);
	return 0;
}

int cs_auth__check_claims(const struct cs_auth__rules *rules, json_t *claims, long long now_s,
			  struct cs_auth_user *user, long long *not_before, char *err,
			  size_t errlen)
{
	long long exp = 0, nbf = 0, iat = 0;
	int has_exp, has_nbf, has_iat;
	json_t *sub, *azp, *aud;
	size_t i;

	if (time_claim(claims, "exp", 1, &exp, &has_exp, err, errlen) < 0 ||
	    time_claim(claims, "nbf", 0, &nbf, &has_nbf, err, errlen) < 0 ||
	    time_claim(claims, "iat", 0, &iat, &has_iat, err, errlen) < 0)
		return -1;
	/* now_s is a sane clock and leeway <= 300: these cannot overflow, exp + leeway could. */
	if (exp <= now_s - rules->leeway)
		return cs_auth__fail(err, errlen, "token has expired");
	if (has_nbf && nbf > now_s + rules->leeway)
		return cs_auth__fail(err, errlen, "token is not valid yet (nbf)");
	if (has_iat && iat > now_s + rules->leeway)
		return cs_auth__fail(err, errlen, "token is issued in the future (iat)");

	if (!string_equals(json_object_get(claims, "iss"), rules->issuer))
		return cs_auth__fail(err, errlen, "token issuer does not match");

	sub = json_object_get(claims, "sub");
	if (!json_is_string(sub) || json_string_length(sub) == 0)
		return cs_auth__fail(err, errlen, "token has no sub claim");
	if (!cs_document_id_fits(json_string_value(sub), json_string_length(sub)))
		return cs_auth__fail(err, errlen, "token sub claim is not a usable user id");

	if (rules->parties) {
		azp = json_object_get(claims, "azp");
		if (!azp)
			return cs_auth__fail(err, errlen, "token has no azp claim");
		for (i = 0; i < rules->party_count; i++)
			if (string_equals(azp, rules->parties[i]))
				break;
		if (i == rules->party_count)
			return cs_auth__fail(err, errlen, "token azp is not an authorized party");
	}

	if (rules->audience) {
		int ok = 0;
		json_t *item;

		aud = json_object_get(claims, "aud");
		if (json_is_array(aud)) {
			json_array_foreach(aud, i, item)
				ok |= string_equals(item, rules->audience);
		} else {
			ok = string_equals(aud, rules->audience);
		}
		if (!ok)
			return cs_auth__fail(err, errlen,
					     aud ? "token audience does not match"
						 : "token has no aud claim");
	}

	memcpy(user->sub, json_string_value(sub), json_string_length(sub) + 1);
	user->exp = exp;
	*not_before = LLONG_MIN;
	if (has_nbf)
		*not_before = nbf;
	if (has_iat && iat > *not_before)
		*not_before = iat;
	return 0;
}
