/*
 * The commands on a loaded pool: depsolve (chained transactions, the last
 * one's set is the answer), search and dump, each answering the JSON of
 * osbuild-depsolve-dnf's API version 1.
 */
#ifndef IB_DS_SOLVE_H
#define IB_DS_SOLVE_H

#include <solv/pool.h>

#include "depsolver/ds.h"

/* Each returns a new JSON answer, or NULL with err set. */
json_object	*solve_depsolve(Pool *, const struct ds_request *,
		    struct ds_err *);
json_object	*solve_search(Pool *, const struct ds_request *,
		    struct ds_err *);
json_object	*solve_dump(Pool *, const struct ds_request *,
		    struct ds_err *);

#endif
