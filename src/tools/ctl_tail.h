/*
 * custodianctl audit tail: prints the last records of the audit log as
 * they were written, then follows the log as the daemon appends to it,
 * across rotations, and warns when a new record does not link to the one
 * before it (see docs/custodianctl.md).
 */
#ifndef CUSTODIAN_CTL_TAIL_H
#define CUSTODIAN_CTL_TAIL_H

/*
 * Runs the command. ARGV[0] is "tail"; the options and FILE follow.
 * Prints records to standard output and every problem to standard error.
 * Unless --no-follow is given, blocks until SIGINT or SIGTERM, which it
 * catches. Returns the exit status: 0, 1 (a broken link was seen, or the
 * log or the configuration could not be read) or 2 (usage error).
 */
int tail_main(int argc, char **argv);

#endif
