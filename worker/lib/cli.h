/*
 * What the small one-shot and periodic programs (ib-backlog, ib-logship,
 * ib-maintenance) share at their start: a quit flag that SIGTERM and
 * SIGINT raise, and reading a "--flag VALUE" argument.
 */
#ifndef IB_CLI_H
#define IB_CLI_H

#include <stdatomic.h>

/*
 * Sets *flag to 1 on SIGTERM and SIGINT from now on (the handler writes
 * nothing else; an atomic_int is lock-free here, safe to set in it). The
 * flag must live as long as the program.
 */
void		 cli_quit_on_signals(atomic_int *flag);
/*
 * The value of argv[*i] (a "--flag VALUE" pair): argv[*i + 1], with *i
 * moved to it; NULL and "PROG: FLAG needs a value" on stderr when none.
 */
const char	*cli_value(const char *prog, int argc, char **argv, int *i);

#endif
