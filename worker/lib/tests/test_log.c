/*
 * log.c: the line formats (text, JSON with escapes, job id and fields),
 * the cut of an over-long message, and logging when no memory can be had:
 * fatalx() is how the allocators report out-of-memory, so the logger must
 * not allocate.
 *
 * For the last test this file replaces malloc and its family with a bump
 * allocator that can be told to fail (not under ASan, which owns them).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "log.h"
#include "util.h"

#if !defined(__SANITIZE_ADDRESS__)
#define ARENA_SIZE	(256u << 20)
#define ALIGN		16u

static unsigned char	 arena[ARENA_SIZE] __attribute__((aligned(16)));
static atomic_size_t	 arena_used;
static atomic_int	 malloc_fails;

/* A block is its size (one ALIGN unit) then the bytes. */
static void *
bump(size_t n, size_t align)
{
	size_t	 off, start, need;

	if (malloc_fails) {
		errno = ENOMEM;
		return NULL;
	}
	if (align < ALIGN)
		align = ALIGN;
	need = ((n + ALIGN - 1) & ~(size_t)(ALIGN - 1)) + align + ALIGN;
	off = atomic_fetch_add(&arena_used, need);
	if (off + need > ARENA_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	start = (((uintptr_t)arena + off + ALIGN + align - 1) &
	    ~(uintptr_t)(align - 1)) - (uintptr_t)arena;
	memcpy(arena + start - sizeof(size_t), &n, sizeof(size_t));
	return arena + start;
}

static size_t
blocksize(void *p)
{
	size_t	 n;

	memcpy(&n, (unsigned char *)p - sizeof(size_t), sizeof(size_t));
	return n;
}

void	*malloc(size_t);
void	*calloc(size_t, size_t);
void	*realloc(void *, size_t);
void	 free(void *);
int	 posix_memalign(void **, size_t, size_t);
void	*aligned_alloc(size_t, size_t);
void	*memalign(size_t, size_t);
size_t	 malloc_usable_size(void *);

void *
malloc(size_t n)
{
	return bump(n, ALIGN);
}

void *
calloc(size_t m, size_t n)
{
	if (n != 0 && m > SIZE_MAX / n) {
		errno = ENOMEM;
		return NULL;
	}
	return bump(m * n, ALIGN);	/* the arena is never reused: zero */
}

void *
realloc(void *p, size_t n)
{
	void	*q;
	size_t	 old;

	if (p == NULL)
		return malloc(n);
	if ((q = malloc(n)) == NULL)
		return NULL;
	old = blocksize(p);
	memcpy(q, p, old < n ? old : n);
	return q;
}

void
free(void *p)
{
	(void)p;
}

int
posix_memalign(void **pp, size_t align, size_t n)
{
	if ((*pp = bump(n, align)) == NULL)
		return ENOMEM;
	return 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
	return bump(n, align);
}

void *
memalign(size_t align, size_t n)
{
	return bump(n, align);
}

size_t
malloc_usable_size(void *p)
{
	return p == NULL ? 0 : blocksize(p);
}
#endif

/* Runs fn in a child whose stderr is a pipe; returns what it wrote. */
static char *
capture(void (*fn)(void), int *status)
{
	static char	 out[1 << 17];
	size_t		 len = 0;
	ssize_t		 n;
	pid_t		 pid;
	int		 fd[2];

	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(fd[0]);
		dup2(fd[1], STDERR_FILENO);
		alarm(20);	/* a logger that deadlocks fails the test */
		fn();
		_exit(0);
	}
	close(fd[1]);
	while (len < sizeof(out) - 1 &&
	    (n = read(fd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return out;
}

static void
text_lines(void)
{
	log_init(0, LOG_TEXT);
	log_debug("not shown");
	log_setjob("job-1");
	log_info("two\nlines %d", 7);
	log_setjob(NULL);
	errno = ENOENT;
	log_warn("open %s", "x");
}

static void
test_text(void **state)
{
	char	*out;
	int	 st;

	out = capture(text_lines, &st);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_null(strstr(out, "not shown"));
	assert_non_null(strstr(out, " info two lines 7 job_id=job-1\n"));
	assert_non_null(strstr(out,
	    " warning open x: No such file or directory\n"));
}

static void
field_lines(void)
{
	struct log_num	 nums[] = { { "duration_ms", 1500 }, { "bytes", 42 },
			    { NULL, 0 } };

	log_init(0, LOG_JSON);
	log_setfield(LOG_F_WORKER_ID, "w-1");
	log_setjob("job-3");
	log_setfield(LOG_F_JOB_TYPE, "osb\nuild");
	log_setfield(LOG_F_PHASE, "upload");
	log_info_n(nums, "uploaded");
	log_setjob(NULL);
	log_errx("after");
	log_setformat(LOG_TEXT);
	log_warnx_n(nums, "esc\x1b[2Jape");
}

static void
test_fields(void **state)
{
	json_object	*o;
	char		*out, *nl;
	int		 st;

	out = capture(field_lines, &st);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(nl = strchr(out, '\n'));
	*nl = '\0';
	assert_non_null(o = json_tokener_parse(out));
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "job_id")), "job-3");
	/* Context values are cleaned: no control byte, even escaped. */
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "job_type")), "osb?uild");
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "worker_id")), "w-1");
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "phase")), "upload");
	assert_int_equal(json_object_get_int64(
	    json_object_object_get(o, "duration_ms")), 1500);
	assert_true(json_object_is_type(json_object_object_get(o, "bytes"),
	    json_type_int));
	json_object_put(o);
	/* The job's fields end with it; the worker's stays. */
	out = nl + 1;
	assert_non_null(nl = strchr(out, '\n'));
	*nl = '\0';
	assert_non_null(o = json_tokener_parse(out));
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "level")), "error");
	assert_null(json_object_object_get(o, "job_type"));
	assert_null(json_object_object_get(o, "phase"));
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "worker_id")), "w-1");
	json_object_put(o);
	/* Text: the numbers as key=value, no terminal escape. */
	assert_non_null(strstr(nl + 1, " warning esc [2Jape duration_ms=1500 "
	    "bytes=42\n"));
}

static void
json_lines(void)
{
	log_init(1, LOG_JSON);
	log_setjob("j\"1");
	log_debug("q\"b\\s\x01t\tn\n/");
}

static void
test_json(void **state)
{
	json_object	*o;
	char		*out;
	int		 st;

	out = capture(json_lines, &st);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(strstr(out, "\"msg\":\"q\\\"b\\\\s\\u0001t\\tn /\""));
	o = json_tokener_parse(out);
	assert_non_null(o);
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "level")), "debug");
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "msg")), "q\"b\\s\x01t\tn /");
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "job_id")), "j\"1");
	json_object_put(o);
}

static void
long_line(void)
{
	static char	 big[40000];

	memset(big, '"', sizeof(big) - 1);
	log_init(0, LOG_JSON);
	log_setjob("job-2");
	log_info("%s", big);
}

static void
test_long(void **state)
{
	json_object	*o;
	const char	*msg;
	char		*out;
	int		 st;

	out = capture(long_line, &st);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
	o = json_tokener_parse(out);
	assert_non_null(o);
	msg = json_object_get_string(json_object_object_get(o, "msg"));
	assert_true(strlen(msg) > 4000 && strlen(msg) < 40000);
	assert_int_equal(strcmp(msg + strlen(msg) - 3, "..."), 0);
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "job_id")), "job-2");
	json_object_put(o);
}

#if !defined(__SANITIZE_ADDRESS__)
static void
no_memory(void)
{
	log_init(0, LOG_JSON);
	log_setjob("job-3");
	malloc_fails = 1;
	log_info("still %s", "logged");
	log_setformat(LOG_TEXT);
	(void)xstrdup("x");	/* fatalx: must log once and exit 1 */
}
#endif

static void
test_no_memory(void **state)
{
#if defined(__SANITIZE_ADDRESS__)
	skip();
#else
	char	*out;
	int	 st;

	out = capture(no_memory, &st);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_non_null(strstr(out, "\"msg\":\"still logged\""));
	assert_non_null(strstr(out, " fatal out of memory"));
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_no_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
