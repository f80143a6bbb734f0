/*
 * ib-maintenance's shared state: what a run may do (the options) and what
 * it did (the tallies main.c writes out as Prometheus text). One prune_*
 * function per cloud (AWS, GCP, Azure); each lists the fleet's images, deletes those older
 * than the retention (oldest first is not promised: the order the cloud
 * lists them in), and counts. Nothing from the cloud reaches a log line
 * unchecked: ids and names are checked by the clients' *_ok functions.
 */
#ifndef IB_MAINTENANCE_PRUNE_H
#define IB_MAINTENANCE_PRUNE_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PRUNE_MAX_REGIONS	64
#define PRUNE_MAX_TALLIES	128

struct prune_opts {
	int		 dry_run;
	time_t		 now;
	int64_t		 retention;	/* seconds */
	long		 limit;		/* images deleted (or that would be) */
	const char	*ca;
	/* AWS */
	const char	*aws_endpoint;	/* NULL: AWS */
	const char	*aws_regions[PRUNE_MAX_REGIONS + 1];	/* or all */
	const char	*aws_home;	/* where DescribeRegions is asked */
	const char	*aws_creds_file;
	const char	*name_prefix;	/* NULL or "": any */
	/* GCP: the service account's key (JSON), its project the one */
	const char	*gcp_creds_file;
	/* Azure: a service principal (TOML client_id, client_secret) */
	const char	*azure_creds_file;
	const char	*azure_tenant;
	const char	*azure_sub;
	const atomic_int *quit;
};

/* What happened in one place (a cloud and a region or project). */
struct prune_tally {
	char	 cloud[8];
	char	 where[64];
	long	 seen;		/* the fleet's images listed */
	long	 expired;	/* of them, past the retention */
	long	 images;	/* deleted (or that would be, dry run) */
	long	 snapshots;	/* snapshots deleted */
	long	 errors;
};

struct prune_run {
	const struct prune_opts	*o;
	long			 done;	/* images counted against limit */
	int			 limit_hit;
	struct prune_tally	 t[PRUNE_MAX_TALLIES];
	size_t			 nt;
};

/* The tally for cloud and where, made when new (the last one reused when
 * the table is full). */
struct prune_tally *prune_tally(struct prune_run *, const char *cloud,
	    const char *where);
/*
 * 1 when an image created at the ISO 8601 time created ("2026-11-19T15:13
 * :06.000Z", "...+00:00") is past the retention; 0 when not, or when the
 * time cannot be read (an image we cannot date is kept).
 */
int	 prune_expired(const struct prune_opts *, const char *created);
/* 1 when one more image may be deleted; sets limit_hit otherwise. */
int	 prune_may(struct prune_run *);
/* The fleet's name: starts with the prefix when one is set. */
int	 prune_name_ok(const struct prune_opts *, const char *name);

/* Each returns 0, or -1 when it could not list (a tally's errors). */
int	 prune_aws(struct prune_run *);
int	 prune_gcp(struct prune_run *);
int	 prune_azure(struct prune_run *);

#endif
