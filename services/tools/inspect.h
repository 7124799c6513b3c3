/*
 * inspect: the subcommands of bitdex-inspect, which prints what an on-disk structure holds
 * (read-only; never changes a file). Each is one file, inspect_<name>.c, and one row of the
 * table in inspect_main.c. Arguments and exit codes: services/tools/tool.h.
 */
#ifndef BITDEX_TOOLS_INSPECT_H
#define BITDEX_TOOLS_INSPECT_H

/* bitdex-inspect wal <dir> [--from LSN] [--limit N] [--decode] */
int inspect_wal(int argc, char **argv);

/* bitdex-inspect generation <gen-dir> */
int inspect_generation(int argc, char **argv);

#endif
