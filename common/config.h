/*
 * config: process options from command-line flags and environment variables.
 *
 * A service describes its options once, as a table of config_option_t; config_parse() fills the
 * targets from (lowest precedence first) the table's defaults, the environment, and the flags.
 * Flags are `--name value` or `--name=value`; a bool flag may be given bare (`--name`).
 * Integer values accept a binary suffix: k/K (1024), m/M (1024^2), g/G (1024^3).
 * Not thread-safe; call once at start-up.
 */
#ifndef BITDEX_CONFIG_H
#define BITDEX_CONFIG_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum config_type {
    CONFIG_STRING, /* target: char ** (heap copy; free with config_free) */
    CONFIG_INT,    /* target: int64_t *, checked against [min, max] */
    CONFIG_BOOL,   /* target: bool *; values true/false/1/0/yes/no/on/off */
} config_type_t;

typedef struct config_option {
    const char *name; /* flag name without the leading "--", e.g. "data-dir" */
    const char *env;  /* environment variable consulted before flags, or NULL */
    config_type_t type;
    void *target;     /* borrowed; see config_type_t */
    const char *def;  /* default as text (parsed like a flag value), or NULL for none */
    int64_t min, max; /* CONFIG_INT bounds, inclusive (ignored when min == max == 0) */
    bool required;    /* a CONFIG_STRING that must end up set and non-empty */
    const char *help; /* one line for --help */
} config_option_t;

/* config_parse() returns this (positive) when --help/-h was given and usage was printed. */
#define CONFIG_HELP 1

/*
 * Fills every option's target. Returns 0, CONFIG_HELP after printing usage to `out`, or
 * BDX_EINVAL with a message naming the option and the reason (unknown flag, missing value,
 * bad number, out of range, missing required option, unexpected positional argument).
 * On error the targets may be partly filled; call config_free() either way.
 */
int config_parse(const config_option_t *opts, size_t nopts, const char *prog, int argc, char **argv,
                 FILE *out, bdx_error_t *err);

/* Prints usage (flags, env names, defaults, help) for `prog` to `out`. */
void config_usage(const config_option_t *opts, size_t nopts, const char *prog, FILE *out);

/* Frees the strings config_parse() stored in CONFIG_STRING targets and sets them to NULL. */
void config_free(const config_option_t *opts, size_t nopts);

#endif
