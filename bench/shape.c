/*
 * shape: parameter files and their parsing. Each key a shape needs must be present; unknown
 * keys are rejected so a typo in a hand-written file cannot silently change a query.
 */
#include "bench/shape.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const shape_file_t files[] = {
    {"Q1", SHAPE_Q1}, {"Q2hot", SHAPE_Q2}, {"Q2mid", SHAPE_Q2},   {"Q2rare", SHAPE_Q2},
    {"Q3", SHAPE_Q3}, {"Q4d1k", SHAPE_Q4}, {"Q4d100k", SHAPE_Q4}, {"Q4dhalf", SHAPE_Q4},
    {"Q5", SHAPE_Q5}, {"Q6", SHAPE_Q6},    {"Q7", SHAPE_Q7},      {"Q8", SHAPE_Q8},
    {"Q9", SHAPE_Q9}, {"Qc", SHAPE_QC},
};

const shape_file_t *shape_files(size_t *n)
{
    *n = sizeof(files) / sizeof(files[0]);
    return files;
}

enum {
    K_NSFW_NOT_IN = 1 << 0,
    K_NSFW_IN = 1 << 1,
    K_HIDDEN = 1 << 2,
    K_TAGS = 1 << 3,
    K_NSFW_RESTRICTED = 1 << 4,
    K_MODELS_RESTRICTED = 1 << 5,
    K_TAG = 1 << 6,
    K_USER = 1 << 7,
    K_NSFW = 1 << 8,
    K_DEPTH = 1 << 9,
    K_AFTER_SORT_AT = 1 << 10,
    K_AFTER_ID = 1 << 11,
    K_SORT_AT_GTE = 1 << 12,
    K_BASE_MODEL = 1 << 13,
    K_TYPE = 1 << 14,
    K_FILTER = 1 << 15,
};

static const struct {
    const char *name;
    unsigned bit;
} keys[] = {
    {"nsfw_not_in", K_NSFW_NOT_IN},
    {"nsfw_in", K_NSFW_IN},
    {"hidden", K_HIDDEN},
    {"tags", K_TAGS},
    {"nsfw_restricted", K_NSFW_RESTRICTED},
    {"models_restricted", K_MODELS_RESTRICTED},
    {"tag", K_TAG},
    {"user", K_USER},
    {"nsfw", K_NSFW},
    {"depth", K_DEPTH},
    {"after_sortAt", K_AFTER_SORT_AT},
    {"after_id", K_AFTER_ID},
    {"sortAt_gte", K_SORT_AT_GTE},
    {"baseModel", K_BASE_MODEL},
    {"type", K_TYPE},
    {"filter", K_FILTER},
};

static unsigned required(shape_kind_t kind, shape_kind_t count_of)
{
    switch (kind) {
    case SHAPE_Q1:
        return K_NSFW_NOT_IN | K_HIDDEN;
    case SHAPE_Q2:
        return K_TAG | K_NSFW_IN;
    case SHAPE_Q3:
        return K_USER;
    case SHAPE_Q4:
        return K_NSFW_NOT_IN | K_HIDDEN | K_DEPTH | K_AFTER_SORT_AT | K_AFTER_ID;
    case SHAPE_Q5:
        return K_TAGS | K_NSFW_NOT_IN;
    case SHAPE_Q6:
        return K_BASE_MODEL | K_TYPE;
    case SHAPE_Q7:
        return K_SORT_AT_GTE | K_NSFW;
    case SHAPE_Q8:
        return K_NSFW;
    case SHAPE_Q9:
        return K_TAG | K_NSFW_RESTRICTED | K_MODELS_RESTRICTED;
    case SHAPE_QC:
        return K_FILTER | required(count_of, count_of);
    }
    return 0;
}

static int parse_int(const char *s, size_t len, int64_t *out)
{
    char tmp[32];
    if (len == 0 || len >= sizeof(tmp))
        return BDX_EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end)
        return BDX_EINVAL;
    *out = v;
    return 0;
}

static int parse_list(const char *s, size_t len, shape_list_t *l)
{
    l->n = 0;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        if (l->n == SHAPE_MAX_LIST || parse_int(s + i, j - i, &l->v[l->n]) != 0)
            return BDX_EINVAL;
        l->n++;
        i = j + 1;
    }
    return 0;
}

static int copy_string(const char *s, size_t len, char *out)
{
    if (len == 0 || len >= SHAPE_MAX_STRING)
        return BDX_EINVAL;
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

static int parse_strings(const char *s, size_t len, shape_strings_t *l)
{
    l->n = 0;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        if (l->n == 8 || copy_string(s + i, j - i, l->v[l->n]) != 0)
            return BDX_EINVAL;
        l->n++;
        i = j + 1;
    }
    return 0;
}

static int parse_u32(const char *s, size_t len, uint32_t *out)
{
    int64_t v;
    if (parse_int(s, len, &v) != 0 || v < 0 || v > UINT32_MAX)
        return BDX_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int shape_parse(shape_kind_t kind, const char *line, shape_args_t *out, bdx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->count_of = kind;
    unsigned seen = 0;
    const char *p = line;
    while (*p) {
        const char *tab = strchr(p, '\t');
        size_t len = tab ? (size_t)(tab - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return bdx_error_set(err, BDX_EINVAL, "'%.*s': expected key=value", (int)len, p);
        size_t klen = (size_t)(eq - p);
        const char *v = eq + 1;
        size_t vlen = len - klen - 1;
        unsigned bit = 0;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (strlen(keys[k].name) == klen && memcmp(keys[k].name, p, klen) == 0)
                bit = keys[k].bit;
        int rc = 0;
        int64_t i64;
        switch (bit) {
        case K_NSFW_NOT_IN:
            rc = parse_list(v, vlen, &out->nsfw_not_in);
            break;
        case K_NSFW_IN:
            rc = parse_list(v, vlen, &out->nsfw_in);
            break;
        case K_HIDDEN:
            rc = parse_list(v, vlen, &out->hidden);
            break;
        case K_TAGS:
            rc = parse_list(v, vlen, &out->tags);
            break;
        case K_NSFW_RESTRICTED:
            rc = parse_list(v, vlen, &out->nsfw_restricted);
            break;
        case K_MODELS_RESTRICTED:
            rc = parse_strings(v, vlen, &out->models_restricted);
            break;
        case K_TAG:
            rc = parse_int(v, vlen, &out->tag);
            break;
        case K_USER:
            rc = parse_int(v, vlen, &out->user);
            break;
        case K_NSFW:
            rc = parse_int(v, vlen, &out->nsfw);
            break;
        case K_DEPTH:
            rc = parse_int(v, vlen, &i64);
            out->depth = rc == 0 && i64 >= 0 ? (uint64_t)i64 : 0;
            rc = rc == 0 && i64 < 0 ? BDX_EINVAL : rc;
            break;
        case K_AFTER_SORT_AT:
            rc = parse_u32(v, vlen, &out->after_sort_at);
            break;
        case K_AFTER_ID:
            rc = parse_u32(v, vlen, &out->after_id);
            break;
        case K_SORT_AT_GTE:
            rc = parse_u32(v, vlen, &out->sort_at_gte);
            break;
        case K_BASE_MODEL:
            rc = copy_string(v, vlen, out->base_model);
            break;
        case K_TYPE:
            rc = copy_string(v, vlen, out->type);
            break;
        case K_FILTER:
            if (vlen == 2 && memcmp(v, "Q1", 2) == 0)
                out->count_of = SHAPE_Q1;
            else if (vlen == 2 && memcmp(v, "Q5", 2) == 0)
                out->count_of = SHAPE_Q5;
            else
                rc = BDX_EINVAL;
            break;
        default:
            return bdx_error_set(err, BDX_EINVAL, "unknown key '%.*s'", (int)klen, p);
        }
        if (rc != 0)
            return bdx_error_set(err, BDX_EINVAL, "%.*s: bad value '%.*s'", (int)klen, p,
                                 (int)(vlen < 60 ? vlen : 60), v);
        seen |= bit;
        p = tab ? tab + 1 : p + len;
    }
    if (kind == SHAPE_QC && !(seen & K_FILTER))
        return bdx_error_set(err, BDX_EINVAL, "missing key filter");
    unsigned need = required(kind, out->count_of);
    if ((seen & need) != need) {
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if ((need & keys[k].bit) && !(seen & keys[k].bit))
                return bdx_error_set(err, BDX_EINVAL, "missing key %s", keys[k].name);
    }
    return 0;
}

int shape_load(const char *path, shape_kind_t kind, shape_args_t **out, size_t *n, bdx_error_t *err)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return bdx_error_set(err, -errno, "%s: %s", path, strerror(errno));
    shape_args_t *arr = NULL;
    size_t len = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0 || line[0] == '#')
            continue;
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 64;
            shape_args_t *na = realloc(arr, nc * sizeof(*arr));
            if (!na) {
                rc = -ENOMEM;
                goto out;
            }
            arr = na;
            cap = nc;
        }
        bdx_error_t e;
        if ((rc = shape_parse(kind, line, &arr[len], &e)) != 0) {
            rc = bdx_error_set(err, rc, "%s:%zu: %s", path, lineno, bdx_error_message(&e));
            goto out;
        }
        len++;
    }
    if (ferror(f))
        rc = bdx_error_set(err, -EIO, "%s: read error", path);
out:
    free(line);
    fclose(f);
    if (rc != 0) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = len;
    return 0;
}

shape_sort_t shape_sort(const shape_args_t *a)
{
    switch (a->kind) {
    case SHAPE_Q1:
    case SHAPE_Q4:
    case SHAPE_Q9:
        return SHAPE_SORT_SORTAT_DESC;
    case SHAPE_Q2:
    case SHAPE_Q5:
    case SHAPE_Q6:
    case SHAPE_Q7:
        return SHAPE_SORT_REACTIONS_DESC;
    case SHAPE_Q3:
        return SHAPE_SORT_ID_DESC;
    case SHAPE_Q8:
        return SHAPE_SORT_ID_ASC;
    case SHAPE_QC:
        return SHAPE_SORT_NONE;
    }
    return SHAPE_SORT_NONE;
}

bool shape_is_count(const shape_args_t *a)
{
    return a->kind == SHAPE_QC;
}
