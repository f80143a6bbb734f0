/* The start of a small program: signals that ask it to quit, --flag VALUE. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static atomic_int	*quit_flag;

static void
on_quit(int sig)
{
	if (quit_flag != NULL)
		atomic_store(quit_flag, 1);
}

void
cli_quit_on_signals(atomic_int *flag)
{
	struct sigaction	 sa;

	quit_flag = flag;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_quit;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

const char *
cli_value(const char *prog, int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: %s needs a value\n", prog, argv[*i]);
		return NULL;
	}
	return argv[++*i];
}
