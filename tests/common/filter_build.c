/* filter_build: see filter_build.h. */
#include "tests/common/filter_build.h"

#include <stdlib.h>
#include <string.h>

static void *must(void *p)
{
    if (p == NULL)
        abort();
    return p;
}

static Bitdex__V1__Value *value(void)
{
    Bitdex__V1__Value *v = must(malloc(sizeof(*v)));
    bitdex__v1__value__init(v);
    return v;
}

Bitdex__V1__Value *fb_int(int64_t i)
{
    Bitdex__V1__Value *v = value();
    v->kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
    v->int_value = i;
    return v;
}

Bitdex__V1__Value *fb_bool(bool b)
{
    Bitdex__V1__Value *v = value();
    v->kind_case = BITDEX__V1__VALUE__KIND_BOOL_VALUE;
    v->bool_value = b;
    return v;
}

Bitdex__V1__Value *fb_str(const char *s)
{
    Bitdex__V1__Value *v = value();
    v->kind_case = BITDEX__V1__VALUE__KIND_STRING_VALUE;
    v->string_value = must(strdup(s));
    return v;
}

Bitdex__V1__Value *fb_null(void)
{
    Bitdex__V1__Value *v = value();
    v->kind_case = BITDEX__V1__VALUE__KIND_NULL_VALUE;
    v->null_value = must(malloc(sizeof(*v->null_value)));
    bitdex__v1__null__init(v->null_value);
    return v;
}

Bitdex__V1__Value *fb_unset(void)
{
    return value();
}

static Bitdex__V1__Filter *filter(Bitdex__V1__Filter__ClauseCase clause)
{
    Bitdex__V1__Filter *f = must(malloc(sizeof(*f)));
    bitdex__v1__filter__init(f);
    f->clause_case = clause;
    return f;
}

Bitdex__V1__Filter *fb_cmp(Bitdex__V1__Filter__ClauseCase clause, const char *field,
                           Bitdex__V1__Value *v)
{
    Bitdex__V1__Filter *f = filter(clause);
    Bitdex__V1__FieldComparison *c = must(malloc(sizeof(*c)));
    bitdex__v1__field_comparison__init(c);
    c->field = must(strdup(field));
    c->value = v;
    f->eq = c; /* every comparison case shares the union slot */
    return f;
}

Bitdex__V1__Filter *fb_set(Bitdex__V1__Filter__ClauseCase clause, const char *field, size_t n,
                           Bitdex__V1__Value **values)
{
    Bitdex__V1__Filter *f = filter(clause);
    Bitdex__V1__FieldSet *s = must(malloc(sizeof(*s)));
    bitdex__v1__field_set__init(s);
    s->field = must(strdup(field));
    s->n_values = n;
    s->values = must(calloc(n + 1, sizeof(*s->values)));
    if (n > 0)
        memcpy(s->values, values, n * sizeof(*values));
    f->is_in = s;
    return f;
}

Bitdex__V1__Filter *fb_between(const char *field, Bitdex__V1__Value *lo, Bitdex__V1__Value *hi)
{
    Bitdex__V1__Filter *f = filter(BITDEX__V1__FILTER__CLAUSE_BETWEEN);
    Bitdex__V1__FieldRange *r = must(malloc(sizeof(*r)));
    bitdex__v1__field_range__init(r);
    r->field = must(strdup(field));
    r->lo = lo;
    r->hi = hi;
    f->between = r;
    return f;
}

Bitdex__V1__Filter *fb_null_test(Bitdex__V1__Filter__ClauseCase clause, const char *field)
{
    Bitdex__V1__Filter *f = filter(clause);
    Bitdex__V1__FieldRef *r = must(malloc(sizeof(*r)));
    bitdex__v1__field_ref__init(r);
    r->field = must(strdup(field));
    f->is_null = r;
    return f;
}

Bitdex__V1__Filter *fb_list(Bitdex__V1__Filter__ClauseCase clause, size_t n,
                            Bitdex__V1__Filter **children)
{
    Bitdex__V1__Filter *f = filter(clause);
    Bitdex__V1__FilterList *l = must(malloc(sizeof(*l)));
    bitdex__v1__filter_list__init(l);
    l->n_filters = n;
    l->filters = must(calloc(n + 1, sizeof(*l->filters)));
    if (n > 0)
        memcpy(l->filters, children, n * sizeof(*children));
    f->all_of = l;
    return f;
}

Bitdex__V1__Filter *fb_and2(Bitdex__V1__Filter *a, Bitdex__V1__Filter *b)
{
    Bitdex__V1__Filter *c[] = {a, b};
    return fb_list(BITDEX__V1__FILTER__CLAUSE_ALL_OF, 2, c);
}

Bitdex__V1__Filter *fb_not(Bitdex__V1__Filter *child)
{
    Bitdex__V1__Filter *f = filter(BITDEX__V1__FILTER__CLAUSE_NEGATE);
    f->negate = child;
    return f;
}

Bitdex__V1__Filter *fb_prefilter(const char *name)
{
    Bitdex__V1__Filter *f = filter(BITDEX__V1__FILTER__CLAUSE_PREFILTER);
    f->prefilter = must(strdup(name));
    return f;
}

Bitdex__V1__Filter *fb_empty(void)
{
    return filter(BITDEX__V1__FILTER__CLAUSE__NOT_SET);
}

void fb_free(Bitdex__V1__Filter *f)
{
    if (f != NULL)
        protobuf_c_message_free_unpacked(&f->base, NULL);
}
