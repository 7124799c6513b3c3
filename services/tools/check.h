/*
 * check: the subcommands of bitdex-check, which verify an on-disk structure and print a
 * summary, naming the file and offset of any damage. Each is one file, check_<name>.c, and one
 * row of the table in check_main.c. Read-only unless a repair option is given (which then needs
 * the writer stopped). Arguments and exit codes: services/tools/tool.h.
 */
#ifndef BITDEX_TOOLS_CHECK_H
#define BITDEX_TOOLS_CHECK_H

/* bitdex-check wal <dir> [--repair-last-segment] */
int check_wal(int argc, char **argv);

/* bitdex-check generation <gen-dir> */
int check_generation(int argc, char **argv);

/* bitdex-check index <index-dir>: CURRENT -> generation -> WAL after its LSN */
int check_index(int argc, char **argv);

#endif
