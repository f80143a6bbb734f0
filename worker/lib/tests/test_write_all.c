/*
 * util.c's write_all: every byte of a large buffer reaches the file, and a
 * descriptor that cannot be written gives -1 with errno set.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static void
test_whole_buffer(void **state)
{
	char path[] = "/tmp/test_write_all.XXXXXX";
	size_t len = 3u << 20, i, got = 0;
	char *data = xmalloc(len), *back;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd != -1);
	for (i = 0; i < len; i++)
		data[i] = (char)(i * 131 + i / 4096);
	assert_int_equal(write_all(fd, data, len), 0);
	close(fd);
	back = read_file(path, len + 1, &got);
	unlink(path);
	assert_non_null(back);
	assert_int_equal(got, len);
	assert_memory_equal(back, data, len);
	free(back);
	free(data);
}

static void
test_unwritable(void **state)
{
	int fd = open("/dev/null", O_RDONLY);

	(void)state;
	assert_true(fd != -1);
	errno = 0;
	assert_int_equal(write_all(fd, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	close(fd);
	assert_int_equal(write_all(fd, "", 0), 0);	/* nothing to write */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_buffer),
		cmocka_unit_test(test_unwritable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
