/*
 * OAuth2 access tokens for the composer API ([authentication]): the
 * refresh-token and client-credentials grants, the token kept with its
 * expiry and refreshed ahead of it. Shared by the threads of one worker.
 * Tokens and secrets stay inside this module and the HTTP layer.
 */
#ifndef IB_AUTH_H
#define IB_AUTH_H

#include <stddef.h>

#include "config.h"

struct auth;

/* NULL when the config has no [authentication]. */
struct auth	*auth_new(const struct config *);
void		 auth_free(struct auth *);
/*
 * A valid access token, newly allocated (free with freezero_str), fetched
 * or refreshed when missing or near expiry. NULL with a reason in err when
 * the token endpoint cannot give one.
 */
char		*auth_token(struct auth *, char *err, size_t errlen);
/* The server refused the token: the next auth_token() fetches anew. */
void		 auth_invalidate(struct auth *, const char *token);

#endif
