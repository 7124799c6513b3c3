/*
 * loader: one index_doc_t per row, built over the dataset's columns without copying (string
 * values point at the dataset's dictionaries, tag lists at its CSR array).
 */
#include "bench/loader.h"

#include <errno.h>
#include <string.h>
#include <time.h>

enum {
    F_NSFW = 0,
    F_USER,
    F_POST,
    F_TAGS,
    F_BASE_MODEL,
    F_TYPE,
    F_AVAILABILITY,
    F_HAS_META,
    F_ON_SITE,
    F_POI,
    F_MINOR,
    F_BLOCKED_FOR,
    F_COUNT
};
enum {
    S_SORT_AT = 0,
    S_REACTION,
    S_COMMENT,
    S_COLLECTED,
    S_COUNT
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int loader_schema(schema_t **out, bdx_error_t *err)
{
    schema_t *s = NULL;
    int rc = schema_new("images", &s);
    if (rc != 0)
        return rc;
    /* Order matters: F_* above are the schema's filter field indexes. */
    if ((rc = schema_add_filter(s, "nsfwLevel", SCHEMA_INT, false, false)) ||
        (rc = schema_add_filter(s, "userId", SCHEMA_INT, false, false)) ||
        (rc = schema_add_filter(s, "postId", SCHEMA_INT, false, false)) ||
        (rc = schema_add_filter(s, "tagIds", SCHEMA_INT, true, false)) ||
        (rc = schema_add_filter(s, "baseModel", SCHEMA_STRING, false, false)) ||
        (rc = schema_add_filter(s, "type", SCHEMA_STRING, false, false)) ||
        (rc = schema_add_filter(s, "availability", SCHEMA_STRING, false, false)) ||
        (rc = schema_add_filter(s, "hasMeta", SCHEMA_BOOL, false, false)) ||
        (rc = schema_add_filter(s, "onSite", SCHEMA_BOOL, false, false)) ||
        (rc = schema_add_filter(s, "poi", SCHEMA_BOOL, false, false)) ||
        (rc = schema_add_filter(s, "minor", SCHEMA_BOOL, false, false)) ||
        (rc = schema_add_filter(s, "blockedFor", SCHEMA_STRING, false, true)) ||
        (rc = schema_add_sort(s, "sortAt", 32)) || (rc = schema_add_sort(s, "reactionCount", 32)) ||
        (rc = schema_add_sort(s, "commentCount", 32)) ||
        (rc = schema_add_sort(s, "collectedCount", 32)) ||
        (rc = schema_add_stored(s, "url", SCHEMA_STRING)) ||
        (rc = schema_add_stored(s, "width", SCHEMA_INT)) ||
        (rc = schema_add_stored(s, "height", SCHEMA_INT)) || (rc = schema_validate(s, err))) {
        schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int loader_build(const dataset_t *ds, index_t **out, loader_stats_t *st, bdx_error_t *err)
{
    schema_t *schema = NULL;
    index_t *ix = NULL;
    memset(st, 0, sizeof(*st));
    *out = NULL;
    int rc = loader_schema(&schema, err);
    if (rc != 0)
        return rc;
    rc = index_new(schema, &ix, err);
    schema_free(schema);
    if (rc != 0)
        return rc;

    index_doc_filter_t f[F_COUNT];
    index_doc_sort_t s[S_COUNT];
    int64_t ints[F_COUNT];
    const char *strs[F_COUNT];
    index_doc_t doc = {.filters = f, .sorts = s};
    memset(f, 0, sizeof(f));
    memset(s, 0, sizeof(s));
    for (int i = 0; i < F_COUNT; i++)
        f[i].present = true;
    for (int i = 0; i < S_COUNT; i++)
        s[i].present = true;

    double t0 = now_seconds();
    for (uint64_t r = 0; r < ds->n; r++) {
        ints[F_NSFW] = ds->nsfw_level[r];
        ints[F_USER] = ds->user_id[r];
        ints[F_POST] = ds->post_id[r];
        ints[F_HAS_META] = (ds->flags[r] & DATASET_HAS_META) != 0;
        ints[F_ON_SITE] = (ds->flags[r] & DATASET_ON_SITE) != 0;
        ints[F_POI] = (ds->flags[r] & DATASET_POI) != 0;
        ints[F_MINOR] = (ds->flags[r] & DATASET_MINOR) != 0;
        static const int int_fields[] = {F_NSFW,    F_USER, F_POST, F_HAS_META,
                                         F_ON_SITE, F_POI,  F_MINOR};
        for (size_t k = 0; k < sizeof(int_fields) / sizeof(int_fields[0]); k++) {
            int i = int_fields[k];
            f[i].values.ints = &ints[i];
            f[i].values.count = 1;
        }
        f[F_TAGS].values.ints = ds->tag_ids + ds->tag_off[r];
        f[F_TAGS].values.count = (size_t)(ds->tag_off[r + 1] - ds->tag_off[r]);

        strs[F_BASE_MODEL] = ds->dict_base_model.names[ds->base_model[r]];
        strs[F_TYPE] = ds->dict_type.names[ds->type[r]];
        strs[F_AVAILABILITY] = ds->dict_availability.names[ds->availability[r]];
        static const int str_fields[] = {F_BASE_MODEL, F_TYPE, F_AVAILABILITY};
        for (size_t k = 0; k < 3; k++) {
            int i = str_fields[k];
            f[i].values.strings = &strs[i];
            f[i].values.count = 1;
        }
        if (ds->blocked_for[r] == DATASET_NULL_CODE) {
            f[F_BLOCKED_FOR].null = true;
            f[F_BLOCKED_FOR].values.count = 0;
            f[F_BLOCKED_FOR].values.strings = NULL;
        } else {
            strs[F_BLOCKED_FOR] = ds->dict_blocked_for.names[ds->blocked_for[r]];
            f[F_BLOCKED_FOR].null = false;
            f[F_BLOCKED_FOR].values.strings = &strs[F_BLOCKED_FOR];
            f[F_BLOCKED_FOR].values.count = 1;
        }

        s[S_SORT_AT].value = ds->sort_at[r];
        s[S_REACTION].value = ds->reaction_count[r];
        s[S_COMMENT].value = ds->comment_count[r];
        s[S_COLLECTED].value = ds->collected_count[r];

        bdx_error_t e;
        /* images.csv is ordered by id, so every row can take the bulk path. */
        if ((rc = index_bulk_put(ix, ds->id[r], &doc, &e)) != 0) {
            bdx_error_set(err, rc, "document %u: %s", ds->id[r], bdx_error_message(&e));
            goto fail;
        }
    }
    if ((rc = index_bulk_flush(ix)) != 0) {
        bdx_error_set(err, rc, "bulk flush: %s", bdx_strerror(rc));
        goto fail;
    }
    double t1 = now_seconds();
    if ((rc = index_rebuild_perms(ix)) != 0) {
        bdx_error_set(err, rc, "rebuilding permutations: %s", bdx_strerror(rc));
        goto fail;
    }
    double t2 = now_seconds();
    if ((rc = index_optimize(ix)) != 0) {
        bdx_error_set(err, rc, "optimizing: %s", bdx_strerror(rc));
        goto fail;
    }
    double t3 = now_seconds();
    /* Pack every bitmap into one frozen arena: the layout a reader maps from a generation. */
    if ((rc = index_freeze(ix)) != 0) {
        bdx_error_set(err, rc, "freezing: %s", bdx_strerror(rc));
        goto fail;
    }
    st->freeze_seconds = now_seconds() - t3;
    st->put_seconds = t1 - t0;
    st->perms_seconds = t2 - t1;
    st->optimize_seconds = t3 - t2;
    *out = ix;
    return 0;
fail:
    index_free(ix);
    return rc;
}
