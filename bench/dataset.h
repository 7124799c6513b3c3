/*
 * dataset: the benchmark's data set in memory, as plain columns, read from the generator's CSVs.
 *
 * The in-process benchmark needs the data twice: once to fill a bitdex index, once to answer
 * every query by brute force (the same-run reference that gates correctness). Both read these
 * columns, so parsing happens once and the index fill is timed separately from the parse.
 *
 * images.csv is read by header name (column order is free; extra columns are ignored: url,
 * width, height); tags.csv holds `imageId,tagId` rows in any order. Both are parsed straight
 * from a read-only mmap. Rows are kept in file order; `row_of_id` maps an id back to its row.
 * String columns are small dictionaries (codes in first-seen order), so a row holds a u8 code.
 * Each document's tags are stored sorted ascending and deduplicated (CSR layout).
 *
 * Not thread-safe to load; a loaded dataset is read-only and may be shared by threads.
 */
#ifndef BITDEX_BENCH_DATASET_H
#define BITDEX_BENCH_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define DATASET_MAX_STRINGS 255 /* distinct values per string column (code 255 is reserved) */
#define DATASET_NULL_CODE 255   /* blockedFor: null */

enum {
    DATASET_HAS_META = 1,
    DATASET_ON_SITE = 2,
    DATASET_POI = 4,
    DATASET_MINOR = 8
};

/* A string column's dictionary: code -> string. */
typedef struct dataset_dict {
    unsigned count;
    char *names[DATASET_MAX_STRINGS]; /* owned */
} dataset_dict_t;

typedef struct dataset {
    uint64_t n; /* rows (documents) */
    uint32_t max_id;
    uint32_t *id;       /* row -> id */
    int32_t *row_of_id; /* id -> row, -1 when no such document; max_id + 1 entries */
    uint32_t *sort_at;
    uint32_t *reaction_count;
    uint32_t *comment_count;
    uint32_t *collected_count;
    int64_t *nsfw_level;
    int64_t *user_id;
    int64_t *post_id;
    uint8_t *base_model;   /* codes into dict_base_model */
    uint8_t *type;         /* codes into dict_type */
    uint8_t *availability; /* codes into dict_availability */
    uint8_t *blocked_for;  /* codes into dict_blocked_for, DATASET_NULL_CODE for null */
    uint8_t *flags;        /* DATASET_HAS_META | ON_SITE | POI | MINOR */
    uint64_t *tag_off;     /* n + 1 offsets into tag_ids */
    int64_t *tag_ids;      /* per row, ascending, no duplicates */
    uint64_t tag_rows;     /* rows read from tags.csv (before dedupe) */
    dataset_dict_t dict_base_model, dict_type, dict_availability, dict_blocked_for;
    double images_seconds; /* time spent reading images.csv */
    double tags_seconds;   /* time spent reading tags.csv */
    uint64_t images_bytes, tags_bytes;
} dataset_t;

/*
 * Reads DIR/images.csv and DIR/tags.csv into `ds` (zeroed by the call). Returns 0, -errno, or
 * BDX_EINVAL with the file, line and reason in `err` (missing column, bad number, duplicate id,
 * a tag row for an unknown image, more than DATASET_MAX_STRINGS distinct strings in a column).
 * Always release with dataset_free(), also after a failure.
 */
int dataset_load(const char *dir, dataset_t *ds, bdx_error_t *err);

/* Frees every column. Safe on a zeroed or failed dataset. */
void dataset_free(dataset_t *ds);

/* Code of `s` in `d`, or -1 when absent. */
int dataset_dict_find(const dataset_dict_t *d, const char *s);

#endif
