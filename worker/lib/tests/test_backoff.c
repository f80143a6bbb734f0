/*
 * backoff: every delay within [base/2, min(cap, base*2^n)], the upper bound
 * doubling per attempt up to the cap, the jitter really spread over that
 * range (a fleet must not retry in step), and reset starting over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backoff.h"

#define SAMPLES	2000

static void
assert_between(int64_t v, int64_t lo, int64_t hi)
{
	if (v < lo || v > hi)
		fail_msg("%lld not in [%lld, %lld]", (long long)v,
		    (long long)lo, (long long)hi);
}

static void
test_init_clamps(void **state)
{
	struct backoff	 b;

	backoff_init(&b, 0, 0);
	assert_int_equal(b.base_ms, 1);
	assert_int_equal(b.cap_ms, 1);
	assert_int_equal(b.attempt, 0);
	assert_between(backoff_next(&b), 0, 1);

	backoff_init(&b, -50, 10);
	assert_int_equal(b.base_ms, 1);
	assert_int_equal(b.cap_ms, 10);

	/* A cap below the base is raised to the base. */
	backoff_init(&b, 1000, 10);
	assert_int_equal(b.base_ms, 1000);
	assert_int_equal(b.cap_ms, 1000);
}

static void
test_first_delay(void **state)
{
	struct backoff	 b;
	int		 i;

	backoff_init(&b, 1000, 60000);
	for (i = 0; i < SAMPLES; i++) {
		backoff_reset(&b);
		assert_between(backoff_next(&b), 500, 1000);
	}
}

static void
test_growth(void **state)
{
	struct backoff	 b;
	int64_t		 hi, v, max;
	int		 n, i, t;

	backoff_init(&b, 100, 1 << 30);
	b.seed = 12345;
	for (n = 0; n <= 12; n++) {
		hi = (int64_t)100 << n;
		max = 0;
		for (t = 0; t < 200; t++) {
			backoff_reset(&b);
			for (i = 0; i < n; i++)
				(void)backoff_next(&b);
			v = backoff_next(&b);
			assert_between(v, 50, hi);
			if (v > max)
				max = v;
		}
		/* The bound really doubled: some delay used its upper half. */
		if (n > 0 && max <= hi / 2)
			fail_msg("attempt %d: max %lld never above %lld", n,
			    (long long)max, (long long)(hi / 2));
	}
}

static void
test_cap(void **state)
{
	struct backoff	 b;
	int64_t		 v, max = 0;
	int		 i;

	backoff_init(&b, 250, 30000);
	b.seed = 7;
	/* Far past the point where base*2^n would overflow. */
	for (i = 0; i < 1000; i++) {
		v = backoff_next(&b);
		assert_between(v, 125, 30000);
		if (i >= 10 && v > max)
			max = v;
	}
	assert_true(b.attempt <= 64);
	assert_true(max > 27000);

	/* cap == base: no growth at all. */
	backoff_init(&b, 400, 400);
	for (i = 0; i < 100; i++)
		assert_between(backoff_next(&b), 200, 400);
}

static void
test_jitter_spread(void **state)
{
	struct backoff	 b;
	int64_t		 v, min = INT64_MAX, max = 0, sum = 0;
	int		 buckets[10], i, distinct = 0;
	static char	 seen[1001];

	memset(buckets, 0, sizeof(buckets));
	memset(seen, 0, sizeof(seen));
	backoff_init(&b, 1000, 1000);
	b.seed = 424242;
	for (i = 0; i < SAMPLES; i++) {
		v = backoff_next(&b);
		assert_between(v, 500, 1000);
		if (v < min)
			min = v;
		if (v > max)
			max = v;
		sum += v;
		buckets[v == 1000 ? 9 : (v - 500) / 50]++;
		if (!seen[v]) {
			seen[v] = 1;
			distinct++;
		}
	}
	/* Uniform on 501 values: every tenth of the range gets ~200. */
	assert_true(min < 510);
	assert_true(max > 990);
	assert_true(distinct > 300);
	assert_between(sum / SAMPLES, 720, 780);
	for (i = 0; i < 10; i++)
		assert_between(buckets[i], 120, 280);
}

static void
test_fleet_not_in_step(void **state)
{
	struct backoff	 a, b;
	int		 i, same = 0;

	/* Two workers started in the same second get different seeds. */
	backoff_init(&a, 1000, 1000);
	backoff_init(&b, 1000, 1000);
	assert_int_not_equal(a.seed, b.seed);
	for (i = 0; i < 50; i++)
		if (backoff_next(&a) == backoff_next(&b))
			same++;
	assert_true(same < 10);
}

static void
test_reset(void **state)
{
	struct backoff	 b;
	int		 i;

	backoff_init(&b, 100, 100000);
	for (i = 0; i < 20; i++)
		(void)backoff_next(&b);
	assert_int_equal(b.attempt, 20);
	backoff_reset(&b);
	assert_int_equal(b.attempt, 0);
	assert_between(backoff_next(&b), 50, 100);
	assert_between(backoff_next(&b), 50, 200);
	assert_between(backoff_next(&b), 50, 400);
	/* Reset keeps the bounds. */
	assert_int_equal(b.base_ms, 100);
	assert_int_equal(b.cap_ms, 100000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_clamps),
		cmocka_unit_test(test_first_delay),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_jitter_spread),
		cmocka_unit_test(test_fleet_not_in_step),
		cmocka_unit_test(test_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
