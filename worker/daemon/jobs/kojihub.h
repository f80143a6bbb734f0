/*
 * What the koji-init and koji-finalize kinds share: a session with the
 * hub a job names, set up from its [koji."HOST"] table, and whether this
 * worker has any hub to take those kinds for.
 */
#ifndef IB_KOJIHUB_H
#define IB_KOJIHUB_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "koji.h"

/*
 * Logs in to the hub at server with the settings of its host's table; the
 * session (kojihub_close() ends it), or NULL with why in err.
 */
struct koji	*kojihub_open(const struct config *, const char *server,
		    const atomic_int *abort, char *err, size_t errlen);
/* Logs out (a failure only logged) and frees; NULL is fine. */
void		 kojihub_close(struct koji *);
/* The kinds' availability: some [koji."HOST"] table is configured. */
int		 kojihub_available(const struct config *, char *why, size_t);
/*
 * For -n: what a hub's kerberos table lacks. 0 when it is usable (or
 * absent); otherwise the key at fault ("principal" or "keytab") with why
 * filled.
 */
const char	*kojihub_check(const struct config_koji *, char *why, size_t);

#endif
