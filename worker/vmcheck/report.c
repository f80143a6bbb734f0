/*
 * Results: the check records, the overall status (pass, degraded, fail
 * and their exit codes 0, 1, 2), the one-line summary the worker logs, and
 * the text and JSON renderings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "vmcheck.h"

static const char *const overall_names[] = { "pass", "degraded", "fail" };

const char *
status_name(enum check_status s)
{
	switch (s) {
	case ST_PASS:	return "pass";
	case ST_WARN:	return "warn";
	case ST_FAIL:	return "fail";
	default:	return "skip";
	}
}

void
check_set(struct check *c, enum check_status s, const char *fmt, ...)
{
	va_list	 ap;

	c->status = s;
	c->ran = 1;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

void
check_figure(struct check *c, const char *name, int64_t value)
{
	size_t	 i;

	for (i = 0; i < c->nfigures; i++)
		if (strcmp(c->figures[i].name, name) == 0) {
			c->figures[i].value = value;
			return;
		}
	if (c->nfigures == CHECK_MAX_FIGURES)
		return;
	c->figures[c->nfigures].name = name;
	c->figures[c->nfigures++].value = value;
}

int
report_status(const struct check *c, size_t n)
{
	size_t	 i;
	int	 worst = 0;

	for (i = 0; i < n; i++) {
		if (c[i].status == ST_FAIL)
			return 2;
		if (c[i].status == ST_WARN)
			worst = 1;
	}
	return worst;
}

static const struct check *
find(const struct check *c, size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(c[i].name, name) == 0)
			return &c[i];
	return NULL;
}

/* "; name: detail" for every check with status s, except the kvm one. */
static void
add_others(struct buf *b, const struct check *c, size_t n,
    enum check_status s, int *first)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (c[i].status != s || strcmp(c[i].name, "kvm") == 0)
			continue;
		buf_printf(b, "%s%s: %s", *first ? "" : "; ", c[i].name,
		    c[i].detail);
		*first = 0;
	}
}

static void
add_launch(struct buf *b, const struct vmcheck *vc)
{
	if (vc->launch_ms >= 0)
		buf_printf(b, " (appliance launch %.1f s)",
		    vc->launch_ms / 1000.0);
	else
		buf_printf(b, " (appliance launch not measured)");
}

/* One line for logs and for the summary field; caller frees. */
char *
report_summary(const struct vmcheck *vc, const struct check *c, size_t n)
{
	const struct check	*kvm;
	struct buf		 b;
	int			 st, first = 1;

	st = report_status(c, n);
	kvm = find(c, n, "kvm");
	buf_init(&b);
	buf_printf(&b, "ib-vmcheck: %s: ", overall_names[st]);
	if (st == 2) {
		add_others(&b, c, n, ST_FAIL, &first);
		return buf_release(&b);
	}
	if (kvm != NULL && kvm->status == ST_WARN) {
		buf_printf(&b, "KVM unusable (%s); builds will use TCG",
		    vc->kvm_reason);
		add_launch(&b, vc);
		first = 0;
	} else if (kvm != NULL && kvm->status == ST_PASS) {
		buf_printf(&b, "KVM works");
		if (vc->launch_ms >= 0)
			add_launch(&b, vc);
		first = 0;
	}
	add_others(&b, c, n, ST_WARN, &first);
	if (first)
		buf_printf(&b, "all checks passed");
	return buf_release(&b);
}

/* The whole report as one JSON object; caller frees. */
char *
report_json(const struct vmcheck *vc, const struct check *c, size_t n)
{
	struct json_object	*root, *arr, *o, *figs;
	char			*summary, *s;
	size_t			 i, j;

	summary = report_summary(vc, c, n);
	root = json_object_new_object();
	json_object_object_add(root, "program",
	    json_object_new_string("ib-vmcheck"));
	json_object_object_add(root, "version",
	    json_object_new_string(VMCHECK_VERSION));
	json_object_object_add(root, "status",
	    json_object_new_string(overall_names[report_status(c, n)]));
	json_object_object_add(root, "exit_code",
	    json_object_new_int(report_status(c, n)));
	json_object_object_add(root, "summary",
	    json_object_new_string(summary));
	json_object_object_add(root, "accelerator", vc->accel != NULL ?
	    json_object_new_string(vc->accel) : NULL);
	json_object_object_add(root, "kvm_usable",
	    json_object_new_boolean(vc->kvm_ok));
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "name",
		    json_object_new_string(c[i].name));
		json_object_object_add(o, "status",
		    json_object_new_string(status_name(c[i].status)));
		json_object_object_add(o, "detail",
		    json_object_new_string(c[i].detail));
		figs = json_object_new_object();
		for (j = 0; j < c[i].nfigures; j++)
			json_object_object_add(figs, c[i].figures[j].name,
			    json_object_new_int64(c[i].figures[j].value));
		json_object_object_add(o, "figures", figs);
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "checks", arr);
	s = xasprintf("%s\n", json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	free(summary);
	return s;
}

void
report_text(const struct vmcheck *vc, const struct check *c, size_t n)
{
	char	*summary;
	size_t	 i, j;

	for (i = 0; i < n; i++) {
		printf("%-4s  %-9s %s", status_name(c[i].status), c[i].name,
		    c[i].detail);
		for (j = 0; j < c[i].nfigures; j++)
			printf("%s%s=%lld", j ? " " : " [",
			    c[i].figures[j].name,
			    (long long)c[i].figures[j].value);
		printf("%s\n", c[i].nfigures ? "]" : "");
	}
	summary = report_summary(vc, c, n);
	printf("%s\n", summary);
	free(summary);
}
