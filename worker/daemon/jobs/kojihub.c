/*
 * Koji sessions for the koji-init and koji-finalize kinds: the job's
 * server URL picks its [koji."HOST"] table (the reference's lookup by the
 * URL's host), whose Kerberos principal and keytab log it in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/kojihub.h"
#include "log.h"
#include "util.h"

struct koji *
kojihub_open(const struct config *conf, const char *server,
    const atomic_int *abort, char *err, size_t errlen)
{
	const struct config_koji *kc = NULL;
	struct koji_cfg	 c;
	struct koji	*k;
	char		*host;
	int		 i;

	if ((host = url_host(server)) == NULL) {
		snprintf(err, errlen, "failed to parse Koji server URL");
		return NULL;
	}
	for (i = 0; i < conf->nkoji; i++)
		if (strcmp(conf->koji[i].host, host) == 0)
			kc = &conf->koji[i];
	if (kc == NULL) {
		snprintf(err, errlen, "Koji server has not been configured: %s",
		    host);
		free(host);
		return NULL;
	}
	memset(&c, 0, sizeof(c));
	c.server = server;
	c.connect_timeout = conf->worker.connect_timeout;
	c.relax_timeout_factor = kc->relax_timeout_factor;
	c.principal = kc->principal;
	c.keytab = kc->keytab;
	c.backoff_cap = conf->worker.backoff_max * 1000;
	c.abort = abort;
	if ((k = koji_new(&c)) == NULL) {
		snprintf(err, errlen, "failed to parse Koji server URL");
		free(host);
		return NULL;
	}
	if (koji_login(k) == -1) {
		snprintf(err, errlen, "failed to authenticate with Koji server "
		    "\"%s\": %s", host, koji_error(k));
		koji_free(k);
		free(host);
		return NULL;
	}
	free(host);
	return k;
}

void
kojihub_close(struct koji *k)
{
	if (k == NULL)
		return;
	koji_set_abort(k, NULL);
	if (koji_logout(k) == -1)
		log_warnx("koji: logout failed: %s", koji_error(k));
	koji_free(k);
}

const char *
kojihub_check(const struct config_koji *kc, char *why, size_t len)
{
	if (!kc->kerberos)
		return NULL;
	if (kc->principal == NULL || *kc->principal == '\0') {
		snprintf(why, len, "the Kerberos login needs a principal");
		return "principal";
	}
	if (kc->keytab == NULL || *kc->keytab == '\0') {
		snprintf(why, len, "the Kerberos login of %s needs a keytab",
		    kc->principal);
		return "principal";
	}
	if (koji_keytab_check(kc->keytab, kc->principal, why, len) == -1)
		return "keytab";
	return NULL;
}

int
kojihub_available(const struct config *conf, char *why, size_t len)
{
	if (conf->nkoji > 0)
		return 1;
	snprintf(why, len, "no [koji.\"HOST\"] table is configured");
	return 0;
}
