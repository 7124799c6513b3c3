/*
 * limits: defaults and hard caps of the per-index limits. The numbers are the contract's
 * (schema.proto, IndexLimits); change them there first.
 */
#include "common/limits.h"

#include <stddef.h>
#include <string.h>

static const limits_spec_t specs[LIMITS_COUNT] = {
    {"max_page_size", offsetof(limits_t, max_page_size), 1000, 10000},
    {"max_filter_clauses", offsetof(limits_t, max_filter_clauses), 1024, 4096},
    {"max_filter_depth", offsetof(limits_t, max_filter_depth), 32, 64},
    {"max_in_values", offsetof(limits_t, max_in_values), 10000, 100000},
    {"max_get_documents", offsetof(limits_t, max_get_documents), 1000, 10000},
    {"max_values_per_field", offsetof(limits_t, max_values_per_field), 1024, 65536},
    {"max_string_bytes", offsetof(limits_t, max_string_bytes), 1024, 65536},
    {"max_stored_bytes", offsetof(limits_t, max_stored_bytes), 65536, 1048576},
    {"max_batch_ops", offsetof(limits_t, max_batch_ops), 10000, 1000000},
    {"max_prefilters", offsetof(limits_t, max_prefilters), 64, 1024},
};

const limits_spec_t *limits_specs(void)
{
    return specs;
}

const limits_spec_t *limits_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < LIMITS_COUNT; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

uint32_t *limits_field(limits_t *l, const limits_spec_t *spec)
{
    return (uint32_t *)((char *)l + spec->offset);
}

uint32_t limits_get(const limits_t *l, const limits_spec_t *spec)
{
    uint32_t v;

    memcpy(&v, (const char *)l + spec->offset, sizeof(v));
    return v;
}

void limits_defaults(limits_t *out)
{
    for (size_t i = 0; i < LIMITS_COUNT; i++)
        *limits_field(out, &specs[i]) = specs[i].def;
}

int limits_resolve(limits_t *l, bdx_error_t *err)
{
    for (size_t i = 0; i < LIMITS_COUNT; i++) {
        uint32_t *v = limits_field(l, &specs[i]);
        if (*v == 0)
            *v = specs[i].def;
        else if (*v > specs[i].cap)
            return bdx_error_set(err, BDX_EINVAL, "%s: %u exceeds the hard cap %u", specs[i].name,
                                 *v, specs[i].cap);
    }
    return 0;
}
