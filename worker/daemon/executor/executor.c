/*
 * executor: the table of executors and what they share.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"
#include "log.h"

static const struct executor *const executors[] = {
	&executor_host, &executor_qemu, &executor_ec2
};

const struct executor *
executor_find(const char *type)
{
	size_t	 i;

	for (i = 0; i < sizeof(executors) / sizeof(executors[0]); i++)
		if (type != NULL && strcmp(executors[i]->name, type) == 0)
			return executors[i];
	return NULL;
}

const struct executor *
executor_of(const struct config *conf)
{
	const struct executor	*e;

	e = executor_find(conf->osbuild_executor.type);
	return e != NULL ? e : &executor_host;
}

void
executor_reap(const struct config *conf)
{
	const struct executor	*e = executor_of(conf);

	if (e->reap != NULL && e->reap(conf) == -1)
		log_warnx("executor %s: the leftovers of a dead worker could "
		    "not all be removed", e->name);
}

void
executor_result_free(struct executor_result *r)
{
	if (r == NULL)
		return;
	exec_result_free(&r->res);
	free(r->version);
	r->version = NULL;
}

void
executor_mark(const struct config *conf, char *p, size_t len)
{
	const unsigned char	*s = (const unsigned char *)
	    conf->worker.cache_directory;
	uint32_t		 h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ *s) * 16777619u;
	snprintf(p, len, "ibx-%08x", h);
}
