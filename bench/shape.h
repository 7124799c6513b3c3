/*
 * shape: the benchmark's query shapes (Q1..Q9, Qc) and their parameter files.
 *
 * A shape is a fixed query structure (BENCHMARK "Query shapes"); a parameter line fills in its
 * values. bitdex-datagen writes DIR/params/<file>.txt with one line per parameter set:
 * tab-separated key=value pairs, lists comma-separated, '#' lines are comments (bench/README.md
 * documents every key). This file knows the list of parameter files, parses a line into a typed
 * shape_args_t, and says how each shape sorts; engines (bitdex, the brute-force reference,
 * peers) turn a shape_args_t into their own query.
 *
 * Pure data and functions; thread-safe.
 */
#ifndef BITDEX_BENCH_SHAPE_H
#define BITDEX_BENCH_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SHAPE_LIMIT 50      /* page size of every shape */
#define SHAPE_MAX_LIST 64   /* entries in one list parameter */
#define SHAPE_MAX_STRING 64 /* bytes in one string parameter, NUL included */

typedef enum shape_kind {
    SHAPE_Q1 = 0, /* feed */
    SHAPE_Q2,     /* tag page */
    SHAPE_Q3,     /* user page */
    SHAPE_Q4,     /* deep cursor (Q1 after a cursor) */
    SHAPE_Q5,     /* 3-tag OR */
    SHAPE_Q6,     /* selective */
    SHAPE_Q7,     /* top this week */
    SHAPE_Q8,     /* worst order */
    SHAPE_Q9,     /* safety prefix */
    SHAPE_QC,     /* exact count of the Q1 or Q5 filter */
} shape_kind_t;

/* Sort orders used by the shapes. */
typedef enum shape_sort {
    SHAPE_SORT_SORTAT_DESC = 0, /* sortAt desc, id desc */
    SHAPE_SORT_REACTIONS_DESC,  /* reactionCount desc, id desc */
    SHAPE_SORT_ID_DESC,         /* id desc (no sort field) */
    SHAPE_SORT_ID_ASC,          /* id asc */
    SHAPE_SORT_NONE,            /* count only */
} shape_sort_t;

/* One parameter file: its name (file DIR/params/<name>.txt) and shape. */
typedef struct shape_file {
    const char *name;
    shape_kind_t kind;
} shape_file_t;

/* The parameter files in report order; *n receives their number. Static, never freed. */
const shape_file_t *shape_files(size_t *n);

typedef struct shape_list {
    int64_t v[SHAPE_MAX_LIST];
    size_t n;
} shape_list_t;

typedef struct shape_strings {
    char v[8][SHAPE_MAX_STRING];
    size_t n;
} shape_strings_t;

/* A parsed parameter line. Only the fields of the line's shape are meaningful. */
typedef struct shape_args {
    shape_kind_t kind;
    shape_kind_t count_of;             /* Qc: SHAPE_Q1 or SHAPE_Q5 */
    shape_list_t nsfw_not_in;          /* Q1 Q4 Q5 */
    shape_list_t nsfw_in;              /* Q2 */
    shape_list_t hidden;               /* Q1 Q4: tags to exclude */
    shape_list_t tags;                 /* Q5: any of */
    shape_list_t nsfw_restricted;      /* Q9 */
    shape_strings_t models_restricted; /* Q9 */
    int64_t tag;                       /* Q2 Q9 */
    int64_t user;                      /* Q3 */
    int64_t nsfw;                      /* Q7 Q8: nsfwLevel Eq */
    uint64_t depth;                    /* Q4: informational */
    uint32_t after_sort_at, after_id;  /* Q4 cursor: the last row of the previous page */
    uint32_t sort_at_gte;              /* Q7 */
    char base_model[SHAPE_MAX_STRING]; /* Q6 */
    char type[SHAPE_MAX_STRING];       /* Q6 */
} shape_args_t;

/* Parses one line (without its newline) for `kind`. Returns 0 or BDX_EINVAL with the key. */
int shape_parse(shape_kind_t kind, const char *line, shape_args_t *out, bdx_error_t *err);

/*
 * Reads every parameter line of `path` for `kind`. On success *out is a malloc'd array of *n
 * entries (caller frees with free()). Returns 0, -errno, or BDX_EINVAL naming path and line.
 */
int shape_load(const char *path, shape_kind_t kind, shape_args_t **out, size_t *n,
               bdx_error_t *err);

/* Sort order of a parsed line's shape. */
shape_sort_t shape_sort(const shape_args_t *a);

/* True when the shape asks for a count and no rows (Qc). */
bool shape_is_count(const shape_args_t *a);

#endif
