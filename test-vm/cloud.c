/*
 * The cloud of one deployed instance: test-vm/doubles/cloud.py on the host
 * (IMDSv2 with the user data the worker-fleet module renders, Auto Scaling,
 * Secrets Manager, CloudWatch Logs), started with a configuration the test
 * writes, read back through the state file it rewrites after each call.
 */
#include <sys/wait.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

int
cloud_start(struct vt *vt, const char *name, json_object *cfg,
    struct cloud *c, char *err)
{
	char *py = xasprintf("%s/test-vm/doubles/cloud.py", vt->top);
	char *cfgpath = NULL, *log = NULL, *ports = NULL, *ud = NULL;
	const char *s;
	json_object *p = NULL, *v;
	int64_t end;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	c->dir = xasprintf("%s/cloud-%s", vt->work, name);
	remove_tree(c->dir);
	if (mkdir_p(c->dir, 0755) == -1) {
		snprintf(err, ERRLEN, "cannot make %s", c->dir);
		goto cleanup;
	}
	c->relay_log = xasprintf("%s/relay.log", c->dir);
	cfgpath = xasprintf("%s/config.json", c->dir);
	s = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN);
	if (write_file_atomic(cfgpath, s, strlen(s), 0600) == -1) {
		snprintf(err, ERRLEN, "cannot write %s", cfgpath);
		goto cleanup;
	}
	log = xasprintf("%s/cloud.log", c->dir);
	{
		char *argv[] = { "python3", py, "--dir", c->dir, "--config",
		    cfgpath, NULL };

		if ((c->pid = host_spawn(argv, log)) == -1) {
			c->pid = 0;
			snprintf(err, ERRLEN, "cannot run %s", py);
			goto cleanup;
		}
	}
	/* terraform init and console: a few seconds. */
	ports = xasprintf("%s/ports.json", c->dir);
	end = now_ms() + 180 * 1000;
	while ((p = json_object_from_file(ports)) == NULL) {
		if (now_ms() > end || vt_interrupted ||
		    waitpid(c->pid, NULL, WNOHANG) == c->pid) {
			size_t len = 0;
			char *t = read_file(log, 65536, &len);

			snprintf(err, ERRLEN, "the cloud double did not start: "
			    "%.700s", t != NULL ? t : "(no log)");
			free(t);
			c->pid = 0;
			goto cleanup;
		}
		host_sleep_ms(250);
	}
	if (!json_object_object_get_ex(p, "imds", &v) ||
	    (c->imds_port = json_object_get_int(v)) <= 0) {
		snprintf(err, ERRLEN, "%s: no imds port", ports);
		goto cleanup;
	}
	if (json_object_object_get_ex(p, "undeclared", &v))
		c->undeclared = json_object_get(v);
	ud = xasprintf("%s/user-data.json", c->dir);
	if ((c->user_data = json_object_from_file(ud)) == NULL) {
		snprintf(err, ERRLEN, "%s: not JSON", ud);
		goto cleanup;
	}
	rc = 0;
cleanup:
	json_object_put(p);
	free(py);
	free(cfgpath);
	free(log);
	free(ports);
	free(ud);
	return rc;
}

json_object *
cloud_state(struct cloud *c)
{
	char *p = xasprintf("%s/state.json", c->dir);
	json_object *o = json_object_from_file(p);

	free(p);
	return o;
}

int
cloud_terminate(struct cloud *c)
{
	char *p = xasprintf("%s/terminate", c->dir);
	int rc = write_file_atomic(p, "", 0, 0644);

	free(p);
	return rc;
}

void
cloud_stop(struct cloud *c)
{
	host_stop(&c->pid, 5);
	json_object_put(c->user_data);
	json_object_put(c->undeclared);
	c->user_data = c->undeclared = NULL;
	free(c->dir);
	free(c->relay_log);
	c->dir = c->relay_log = NULL;
}

int
cloud_calls(json_object *st, const char *action)
{
	json_object *calls, *call;
	size_t i;
	int n = 0;

	if (!json_object_object_get_ex(st, "calls", &calls))
		return 0;
	for (i = 0; i < json_object_array_length(calls); i++) {
		call = json_object_array_get_idx(calls, i);
		if (strcmp(json_object_get_string(json_object_array_get_idx(call,
		    1)), action) == 0)
			n++;
	}
	return n;
}

int
cloud_log_lines(json_object *st, const char *regex)
{
	json_object *streams, *evs, *msg;
	regex_t re;
	size_t i;
	int n = 0;

	if (!json_object_object_get_ex(st, "streams", &streams) ||
	    regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	json_object_object_foreach(streams, name, list) {
		(void)name;
		evs = list;
		for (i = 0; i < json_object_array_length(evs); i++) {
			json_object_object_get_ex(json_object_array_get_idx(evs,
			    i), "message", &msg);
			if (msg != NULL && regexec(&re,
			    json_object_get_string(msg), 0, NULL, 0) == 0)
				n++;
		}
	}
	regfree(&re);
	return n;
}

void
cloud_show(struct cloud *c)
{
	json_object *st = c->dir ? cloud_state(c) : NULL, *v, *w;

	if (st == NULL)
		return;
	fprintf(stderr, "  cloud double (%s):\n", c->dir);
	if (json_object_object_get_ex(st, "calls", &v))
		fprintf(stderr, "    Auto Scaling calls: %.1500s\n",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	if (json_object_object_get_ex(st, "rejected", &v))
		fprintf(stderr, "    refused Auto Scaling calls: %.800s\n",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	if (json_object_object_get_ex(st, "secrets_read", &v))
		fprintf(stderr, "    secrets read: %.300s\n",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	if (json_object_object_get_ex(st, "refused", &v))
		fprintf(stderr, "    refused Secrets Manager/Logs calls: %.800s\n",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	fprintf(stderr, "    log lines received: %d\n",
	    cloud_log_lines(st, "."));
	if (json_object_object_get_ex(st, "imds_tokens", &v) &&
	    json_object_object_get_ex(st, "imds_gets", &w))
		fprintf(stderr, "    IMDS: %d session tokens, %zu GETs: "
		    "%.1200s\n", json_object_get_int(v),
		    json_object_array_length(w),
		    json_object_to_json_string_ext(w, JSON_C_TO_STRING_PLAIN));
	json_object_put(st);
	if (c->relay_log != NULL) {
		size_t len = 0;
		char *t = read_file(c->relay_log, 1 << 20, &len);

		fprintf(stderr, "    metadata forward (%s), last lines:\n%s\n",
		    c->relay_log, t != NULL && len > 0 ?
		    t + (len > 2000 ? len - 2000 : 0) : "    (none: no guest "
		    "connection reached the forward)");
		free(t);
	}
}
