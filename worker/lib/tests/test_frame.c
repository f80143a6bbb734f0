/*
 * frame: typed, length-prefixed messages on a socket pair: a round trip,
 * an empty payload, a clean end, a frame cut by the peer, a payload that
 * never comes (a timeout, said as one), an abort, and a length over
 * FRAME_MAX refused on both sides.
 */
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"
#include "util.h"

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void
test_round_trip(void **state)
{
	int		 sv[2];
	char		 type, why[128];
	struct buf	 b;

	pair(sv);
	buf_init(&b);
	assert_int_equal(frame_write(sv[0], 'M', "hello", 5, 1000, NULL, why,
	    sizeof(why)), 0);
	assert_int_equal(frame_write(sv[0], 'H', NULL, 0, 1000, NULL, why,
	    sizeof(why)), 0);
	assert_int_equal(frame_read(sv[1], &type, &b, 1000, NULL, why,
	    sizeof(why)), 0);
	assert_int_equal(type, 'M');
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	assert_int_equal(frame_read(sv[1], &type, &b, 1000, NULL, why,
	    sizeof(why)), 0);
	assert_int_equal(type, 'H');
	assert_int_equal(b.len, 0);
	close(sv[0]);
	/* A clean end between frames. */
	assert_int_equal(frame_read(sv[1], &type, &b, 1000, NULL, why,
	    sizeof(why)), 1);
	close(sv[1]);
	buf_free(&b);
}

static void
test_cut_and_timeout(void **state)
{
	const unsigned char	 h[] = { 'D', 0, 0, 0, 10, 'a', 'b' };
	int			 sv[2];
	char			 type, why[128];
	struct buf		 b;
	atomic_int		 abort_now = 1;

	buf_init(&b);
	/* Ten bytes announced, two sent, then nothing: a timeout. */
	pair(sv);
	assert_int_equal(write(sv[0], h, sizeof(h)), (ssize_t)sizeof(h));
	assert_int_equal(frame_read(sv[1], &type, &b, 300, NULL, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "timed out");
	/* The same, then the peer closes: a cut frame. */
	close(sv[0]);
	close(sv[1]);
	pair(sv);
	assert_int_equal(write(sv[0], h, sizeof(h)), (ssize_t)sizeof(h));
	close(sv[0]);
	assert_int_equal(frame_read(sv[1], &type, &b, 1000, NULL, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "inside a frame"));
	close(sv[1]);
	/* An abort flag that is up: nothing waits. */
	pair(sv);
	assert_int_equal(frame_read(sv[1], &type, &b, 5000, &abort_now, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "aborted");
	close(sv[0]);
	close(sv[1]);
	buf_free(&b);
}

static void
test_oversize(void **state)
{
	const unsigned char	 h[] = { 'M', 0x7f, 0xff, 0xff, 0xff };
	int			 sv[2];
	char			 type, why[128];
	struct buf		 b;

	buf_init(&b);
	pair(sv);
	assert_int_equal(write(sv[0], h, sizeof(h)), (ssize_t)sizeof(h));
	assert_int_equal(frame_read(sv[1], &type, &b, 1000, NULL, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "over"));
	assert_int_equal(frame_write(sv[0], 'M', "", (size_t)FRAME_MAX + 1,
	    1000, NULL, why, sizeof(why)), -1);
	close(sv[0]);
	close(sv[1]);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_cut_and_timeout),
		cmocka_unit_test(test_oversize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
