/*
 * Google service-account keys and the signed JWT (RS256) a key trades for
 * an access token. Pure functions: no client, no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gcp.h"
#include "gcp_priv.h"
#include "jsonutil.h"
#include "util.h"

void
gcp_key_clear(struct gcp_key *k)
{
	if (k == NULL)
		return;
	free(k->client_email);
	freezero_str(k->private_key);
	free(k->token_uri);
	free(k->project_id);
	memset(k, 0, sizeof(k[0]));
}

int
gcp_printable(const char *s, size_t max)
{
	size_t	 n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
			return 0;
	return 1;
}

int
gcp_key_parse(const char *json, size_t len, struct gcp_key *k, char *err,
    size_t errlen)
{
	json_tokener	*tok;
	json_object	*doc;
	const char	*type;
	int		 rv = -1;

	memset(k, 0, sizeof(*k));
	tok = json_tokener_new();
	doc = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "the GCP credentials are not a JSON "
		    "object");
		goto cleanup;
	}
	type = json_get_str(doc, "type");
	if (type == NULL || strcmp(type, "service_account") != 0) {
		snprintf(err, errlen, "the GCP credentials are not a service "
		    "account key (type %.40s)", type ? type : "missing");
		goto cleanup;
	}
	if (!gcp_printable(json_get_str(doc, "client_email"), 320) ||
	    json_get_str(doc, "private_key") == NULL ||
	    !gcp_printable(json_get_str(doc, "project_id"), 100)) {
		snprintf(err, errlen, "the GCP service account key lacks "
		    "client_email, private_key or project_id");
		goto cleanup;
	}
	k->client_email = xstrdup(json_get_str(doc, "client_email"));
	k->private_key = xstrdup(json_get_str(doc, "private_key"));
	k->project_id = xstrdup(json_get_str(doc, "project_id"));
	k->token_uri = xstrdup(gcp_printable(json_get_str(doc, "token_uri"),
	    2048) ? json_get_str(doc, "token_uri") :
	    "https://oauth2.googleapis.com/token");
	rv = 0;
cleanup:
	if (doc != NULL) {
		/* The parsed tree held the private key. */
		json_wipe_str(doc, "private_key");
		json_object_put(doc);
	}
	return rv;
}

char *
gcp_b64url(const void *data, size_t len)
{
	char	*s, *p;
	size_t	 n;

	s = base64_encode(data, len);
	for (p = s; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	return s;
}

char *
gcp_jwt_assertion(const struct gcp_key *k, const char *scope, time_t now,
    char *err, size_t errlen)
{
	json_object	*claims;
	EVP_PKEY	*pkey = NULL;
	EVP_MD_CTX	*md = NULL;
	BIO		*bio = NULL;
	unsigned char	*sig = NULL;
	size_t		 siglen = 0;
	char		*head = NULL, *body = NULL, *input = NULL, *b64;
	char		*out = NULL;
	const char	*s;
	const char	*hdr = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";

	claims = json_object_new_object();
	json_object_object_add(claims, "iss",
	    json_object_new_string(k->client_email));
	json_object_object_add(claims, "scope", json_object_new_string(scope));
	json_object_object_add(claims, "aud",
	    json_object_new_string(k->token_uri));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	json_object_object_add(claims, "exp",
	    json_object_new_int64(now + 3600));
	head = gcp_b64url(hdr, strlen(hdr));
	s = json_object_to_json_string_ext(claims,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	body = gcp_b64url(s, strlen(s));
	input = xasprintf("%s.%s", head, body);

	if ((bio = BIO_new_mem_buf(k->private_key, -1)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "the GCP service account's private_key "
		    "is not a PEM private key");
		goto cleanup;
	}
	if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "the GCP service account's private_key "
		    "is not an RSA key");
		goto cleanup;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		snprintf(err, errlen, "cannot sign the GCP token request");
		goto cleanup;
	}
	sig = xmalloc(siglen);
	if (EVP_DigestSign(md, sig, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		snprintf(err, errlen, "cannot sign the GCP token request");
		goto cleanup;
	}
	b64 = gcp_b64url(sig, siglen);
	out = xasprintf("%s.%s", input, b64);
	free(b64);
cleanup:
	json_object_put(claims);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	free(sig);
	free(head);
	free(body);
	free(input);
	return out;
}
