/*
 * The serial console of a VM: qemu writes it to a file, the harness reads
 * what was added and searches it. The guest's journal is forwarded to the
 * same serial port (see guest.c), so the worker's log lines arrive here.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

/* A console that prints more than this is broken; stop reading it. */
#define CONSOLE_MAX	(64u << 20)

void
console_poll(struct vm *vm)
{
	char chunk[65536];
	ssize_t n;
	int fd;

	if ((fd = open(vm->serial, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	while (vm->console.len < CONSOLE_MAX &&
	    (n = pread(fd, chunk, sizeof(chunk), (off_t)vm->console.len)) > 0) {
		ssize_t i;

		/* The buffer stays one C string for regexec. */
		for (i = 0; i < n; i++)
			if (chunk[i] == '\0')
				chunk[i] = ' ';
		buf_add(&vm->console, chunk, (size_t)n);
	}
	close(fd);
}

/*
 * Searches the complete lines after the mark: a line still being written
 * would let a pattern match its first half ("registered as worker f0").
 */
static int
search(struct vm *vm, regex_t *re, char *out, size_t outlen, int advance)
{
	regmatch_t m[2];
	const char *from;
	char *end, saved;
	size_t i;
	int rc;

	if (vm->console.data == NULL || vm->mark > vm->console.len)
		return -1;
	from = vm->console.data + vm->mark;
	if ((end = memrchr(from, '\n', vm->console.len - vm->mark)) == NULL)
		return -1;
	saved = end[1];
	end[1] = '\0';
	rc = regexec(re, from, 2, m, 0);
	end[1] = saved;
	if (rc != 0)
		return -1;
	i = m[1].rm_so != -1 ? 1 : 0;
	if (out != NULL && outlen > 0) {
		size_t len = (size_t)(m[i].rm_eo - m[i].rm_so);

		if (len >= outlen)
			len = outlen - 1;
		memcpy(out, from + m[i].rm_so, len);
		out[len] = '\0';
	}
	if (advance)
		vm->mark += (size_t)m[0].rm_eo;
	return 0;
}

int
console_wait(struct vm *vm, const char *regex, int timeout_s, char *out,
    size_t outlen, int advance, char *err)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	regex_t re;
	int rc = -1;

	if (regcomp(&re, regex, REG_EXTENDED | REG_NEWLINE) != 0) {
		snprintf(err, ERRLEN, "bad regex %s", regex);
		return -1;
	}
	for (;;) {
		console_poll(vm);
		if (search(vm, &re, out, outlen, advance) == 0) {
			rc = 0;
			break;
		}
		if (now_ms() > end || vt_interrupted) {
			snprintf(err, ERRLEN, "%s: no /%s/ on the console "
			    "after %d s", vm->name, regex, timeout_s);
			break;
		}
		host_sleep_ms(250);
	}
	regfree(&re);
	return rc;
}

int
console_has(struct vm *vm, const char *regex)
{
	regex_t re;
	size_t mark = vm->mark;
	int found;

	if (regcomp(&re, regex, REG_EXTENDED | REG_NEWLINE) != 0)
		return 0;
	console_poll(vm);
	vm->mark = 0;
	found = search(vm, &re, NULL, 0, 0) == 0;
	vm->mark = mark;
	regfree(&re);
	return found;
}

void
console_tail(struct vm *vm, int lines)
{
	const char *p;

	if (vm == NULL)
		return;
	console_poll(vm);
	if (vm->console.data == NULL) {
		fprintf(stderr, "---- %s: the console is empty\n", vm->name);
		return;
	}
	p = vm->console.data + vm->console.len;
	while (p > vm->console.data && lines > 0) {
		p--;
		if (*p == '\n')
			lines--;
	}
	fprintf(stderr, "---- %s: the console's last lines (%s)\n%s\n----\n",
	    vm->name, vm->serial, p);
}
