/*
 * Just enough of the Prometheus text exposition format to read the
 * composer's job gauges: sample lines, label sets with quoted values, and
 * comments, which are skipped.
 */
#ifndef IB_BACKLOG_PROM_H
#define IB_BACKLOG_PROM_H

#include <stddef.h>

/*
 * Sums every sample of the first metric in names (NULL-terminated) that
 * the text has, whatever its labels. Returns 0 with *sum and *found (the
 * name used, from names), or -1 with a reason in err when none of the
 * names is there or one of their lines cannot be read.
 */
int	 prom_sum(const char *text, size_t len, const char *const *names,
	    double *sum, const char **found, char *err, size_t errlen);

#endif
