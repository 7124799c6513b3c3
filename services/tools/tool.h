/*
 * tool: the subcommand skeleton shared by the offline tools bitdex-inspect and bitdex-check.
 *
 * Each tool is a table of subcommands named by what they read ("wal", later "generation",
 * "index"); tool_main() picks one by argv[1] and runs it with argv shifted so that the
 * subcommand sees its own name as argv[0] (getopt_long works unchanged). A new subcommand is one
 * function in its own file plus one row in the tool's table (inspect_main.c / check_main.c).
 *
 * Exit codes are the same for every tool and subcommand: TOOL_OK when the data is readable and
 * sound (a torn WAL tail, which the writer cuts at open, counts as sound but is reported),
 * TOOL_FAIL when it is corrupt, of an unknown version, or cannot be read (the message names the
 * file and offset), TOOL_USAGE for a bad command line.
 *
 * Concurrency: single-threaded processes. They open files read-only unless a subcommand's
 * documented repair option says otherwise.
 */
#ifndef BITDEX_TOOL_H
#define BITDEX_TOOL_H

#include <stdbool.h>
#include <stdint.h>

enum {
    TOOL_OK = 0,
    TOOL_FAIL = 1,
    TOOL_USAGE = 2
};

typedef struct tool_command {
    const char *name;    /* argv[1], e.g. "wal" */
    const char *args;    /* usage after the name, e.g. "<dir> [--from LSN]" */
    const char *summary; /* one line for the help text */
    /* Runs it: argv[0] is the subcommand name. Returns a TOOL_* exit code. */
    int (*run)(int argc, char **argv);
} tool_command_t;

/* Dispatches argv[1] to one of the n commands; prints help for "-h", "--help", "help" (exit
 * TOOL_OK) or for an unknown / missing command (TOOL_USAGE). Returns the exit code. */
int tool_main(const char *prog, const char *about, const tool_command_t *commands, unsigned n,
              int argc, char **argv);

/* Prints "usage: <prog> <name> <args>" of the running subcommand to stderr and returns
 * TOOL_USAGE (for `return tool_usage();` on a bad option). */
int tool_usage(void);

/* Parses a decimal uint64 option value; false (after printing "<what>: ...") on garbage. */
bool tool_parse_u64(const char *what, const char *s, uint64_t *out);

#endif
