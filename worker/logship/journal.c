/*
 * Reading the journal with sd_journal. Units are matched by the trusted
 * fields journald adds (_SYSTEMD_UNIT, and UNIT only on PID 1's own lines
 * about a unit, such as "Started ..." or an exit status); the MESSAGE is
 * carried as bytes, never interpreted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>

#include "event.h"
#include "journal.h"
#include "log.h"
#include "util.h"

#define UNIT_PREFIX	"ib-"
#define UNIT_MAX	256
/* Data returned per field: more than one event may carry. */
#define FIELD_MAX	(512 * 1024)

struct jr {
	sd_journal	*j;
	char		*skip_unit;
	char		*cursor;	/* last entry read */
	int		 reread;	/* the current entry is not read yet */
};

struct jr *
jr_open(const char *dir, const char *skip_unit)
{
	struct jr	*r;
	int		 rc;

	r = xcalloc(1, sizeof(*r));
	if (dir != NULL)
		rc = sd_journal_open_directory(&r->j, dir, 0);
	else
		rc = sd_journal_open(&r->j, SD_JOURNAL_SYSTEM);
	if (rc < 0) {
		log_warnx("cannot open the journal%s%s: %s", dir ? " in " : "",
		    dir ? dir : "", strerror(-rc));
		free(r);
		return NULL;
	}
	sd_journal_set_data_threshold(r->j, FIELD_MAX);
	r->skip_unit = xstrdup(skip_unit ? skip_unit : "");
	return r;
}

void
jr_close(struct jr *r)
{
	if (r == NULL)
		return;
	sd_journal_close(r->j);
	free(r->skip_unit);
	free(r->cursor);
	free(r);
}

/* Positions on the first entry of this boot; 1, 0 when none, -1. */
static int
seek_boot(struct jr *r)
{
	sd_id128_t	 boot;
	char		 match[64], id[SD_ID128_STRING_MAX], *c = NULL;
	int		 rc;

	if ((rc = sd_id128_get_boot(&boot)) < 0) {
		log_warnx("no boot id: %s", strerror(-rc));
		return -1;
	}
	snprintf(match, sizeof(match), "_BOOT_ID=%s",
	    sd_id128_to_string(boot, id));
	if ((rc = sd_journal_add_match(r->j, match, 0)) < 0 ||
	    (rc = sd_journal_seek_head(r->j)) < 0 ||
	    (rc = sd_journal_next(r->j)) < 0)
		goto fail;
	if (rc > 0 && (rc = sd_journal_get_cursor(r->j, &c)) < 0)
		goto fail;
	sd_journal_flush_matches(r->j);
	if (c == NULL) {
		/* Nothing of this boot yet: whatever comes next is. */
		if ((rc = sd_journal_seek_tail(r->j)) < 0)
			goto fail;
		sd_journal_previous(r->j);
		log_info("no cursor saved: starting with boot %s (none of "
		    "its entries yet)", id);
		return 0;
	}
	if ((rc = sd_journal_seek_cursor(r->j, c)) < 0 ||
	    (rc = sd_journal_next(r->j)) < 0) {
		free(c);
		goto fail;
	}
	free(c);
	r->reread = rc > 0;
	log_info("no cursor saved: starting at the beginning of boot %s", id);
	return 1;
fail:
	sd_journal_flush_matches(r->j);
	log_warnx("journal: %s", strerror(-rc));
	return -1;
}

int
jr_seek(struct jr *r, const char *cursor)
{
	int	 rc;

	r->reread = 0;
	if (cursor == NULL)
		return seek_boot(r) == -1 ? -1 : 0;
	if ((rc = sd_journal_seek_cursor(r->j, cursor)) < 0) {
		log_warnx("the saved cursor is not one (%s): starting at the "
		    "beginning of this boot", strerror(-rc));
		return seek_boot(r) == -1 ? -1 : 0;
	}
	if ((rc = sd_journal_next(r->j)) < 0) {
		log_warnx("journal: %s", strerror(-rc));
		return -1;
	}
	if (rc == 0)
		return 0;
	/*
	 * On the saved entry: it was shipped. Elsewhere (that entry was
	 * rotated away): this one was not.
	 */
	if (sd_journal_test_cursor(r->j, cursor) > 0) {
		free(r->cursor);
		r->cursor = xstrdup(cursor);
	} else {
		log_warnx("the saved entry is no longer in the journal: "
		    "resuming at the next one there is");
		r->reread = 1;
	}
	return 0;
}

/* The value of field in the current entry, or NULL. */
static const char *
field(struct jr *r, const char *name, size_t *lenp)
{
	const void	*d;
	size_t		 len, nl = strlen(name);

	if (sd_journal_get_data(r->j, name, &d, &len) < 0 || len <= nl)
		return NULL;
	*lenp = len - nl - 1;
	return (const char *)d + nl + 1;
}

static int
is_worker_unit(const struct jr *r, const char *u, size_t len)
{
	size_t	 sl = strlen(r->skip_unit);

	if (len > UNIT_MAX || len < strlen(UNIT_PREFIX) ||
	    memcmp(u, UNIT_PREFIX, strlen(UNIT_PREFIX)) != 0)
		return 0;
	return !(sl == len && memcmp(u, r->skip_unit, len) == 0);
}

/* The unit the current entry is about, or NULL when not a worker unit. */
static const char *
entry_unit(struct jr *r, size_t *lenp)
{
	const char	*u, *pid;
	size_t		 len, plen;

	if ((u = field(r, "_SYSTEMD_UNIT", &len)) != NULL &&
	    is_worker_unit(r, u, len)) {
		*lenp = len;
		return u;
	}
	/* PID 1 about a unit: UNIT= is trusted only from there. */
	if ((pid = field(r, "_PID", &plen)) != NULL && plen == 1 &&
	    pid[0] == '1' && (u = field(r, "UNIT", &len)) != NULL &&
	    is_worker_unit(r, u, len)) {
		*lenp = len;
		return u;
	}
	return NULL;
}

int
jr_next(struct jr *r, struct event *ev)
{
	const char	*unit, *msg;
	char		*c, ubuf[UNIT_MAX];
	uint64_t	 usec;
	size_t		 ulen, mlen;
	int		 rc;

	for (;;) {
		if (r->reread)
			r->reread = 0;
		else if ((rc = sd_journal_next(r->j)) <= 0) {
			if (rc < 0)
				log_warnx("journal: %s", strerror(-rc));
			return rc;
		}
		if ((rc = sd_journal_get_cursor(r->j, &c)) < 0) {
			log_warnx("journal cursor: %s", strerror(-rc));
			return -1;
		}
		free(r->cursor);
		r->cursor = c;
		if ((unit = entry_unit(r, &ulen)) == NULL)
			continue;
		/* The next sd_journal_get_data() call may unmap it. */
		memcpy(ubuf, unit, ulen);
		if ((msg = field(r, "MESSAGE", &mlen)) == NULL) {
			msg = "";
			mlen = 0;
		}
		if (sd_journal_get_realtime_usec(r->j, &usec) < 0)
			continue;
		memset(ev, 0, sizeof(*ev));
		ev->ts = (int64_t)(usec / 1000);
		ev->msg = event_text(ubuf, ulen, msg, mlen, &ev->len);
		ev->cursor = xstrdup(c);
		return 1;
	}
}

const char *
jr_cursor(const struct jr *r)
{
	return r->cursor;
}

void
jr_wait(struct jr *r, int ms)
{
	sd_journal_wait(r->j, (uint64_t)ms * 1000);
}
