/*
 * Tests common/apply.c: every validation error of apply_check() with its code and exact
 * message; all-or-nothing (a bad op at the end leaves the index unchanged); the semantics of
 * put / merge / delete / set / add / remove (defaults, skipped ops) against a simple model on
 * seeded random batches (BITDEX_TEST_SEED reproduces a run).
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/apply.h"
#include "common/bsi.h"
#include "common/dictionary.h"
#include "common/docstore.h"
#include "common/error.h"
#include "common/index.h"

/* ---- message builders (everything malloc'ed, freed with free_unpacked) ---- */

static void *dup_init(const void *init, size_t size)
{
    void *p = malloc(size);
    cr_assert_not_null(p);
    memcpy(p, init, size);
    return p;
}
#define NEW(T, INIT) ((T *)dup_init(&(T)INIT, sizeof(T)))

static Bitdex__V1__Value *v_int(int64_t x)
{
    Bitdex__V1__Value *v = NEW(Bitdex__V1__Value, BITDEX__V1__VALUE__INIT);
    v->kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
    v->int_value = x;
    return v;
}

static Bitdex__V1__Value *v_bool(bool x)
{
    Bitdex__V1__Value *v = NEW(Bitdex__V1__Value, BITDEX__V1__VALUE__INIT);
    v->kind_case = BITDEX__V1__VALUE__KIND_BOOL_VALUE;
    v->bool_value = x;
    return v;
}

static Bitdex__V1__Value *v_str(const char *s)
{
    Bitdex__V1__Value *v = NEW(Bitdex__V1__Value, BITDEX__V1__VALUE__INIT);
    v->kind_case = BITDEX__V1__VALUE__KIND_STRING_VALUE;
    v->string_value = strdup(s);
    return v;
}

static Bitdex__V1__Value *v_null(void)
{
    Bitdex__V1__Value *v = NEW(Bitdex__V1__Value, BITDEX__V1__VALUE__INIT);
    v->kind_case = BITDEX__V1__VALUE__KIND_NULL_VALUE;
    v->null_value = NEW(Bitdex__V1__Null, BITDEX__V1__NULL__INIT);
    return v;
}

static Bitdex__V1__Value *v_none(void)
{
    return NEW(Bitdex__V1__Value, BITDEX__V1__VALUE__INIT);
}

/* A single-valued FieldValue (value may be NULL). */
static Bitdex__V1__FieldValue *fv1(const char *name, Bitdex__V1__Value *value)
{
    Bitdex__V1__FieldValue *f = NEW(Bitdex__V1__FieldValue, BITDEX__V1__FIELD_VALUE__INIT);
    f->field = strdup(name);
    f->value = value;
    return f;
}

/* A multi-valued FieldValue of n values. */
static Bitdex__V1__FieldValue *fvn(const char *name, size_t n, ...)
{
    Bitdex__V1__FieldValue *f = NEW(Bitdex__V1__FieldValue, BITDEX__V1__FIELD_VALUE__INIT);
    va_list ap;

    f->field = strdup(name);
    f->n_values = n;
    f->values = n ? malloc(n * sizeof(*f->values)) : NULL;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        f->values[i] = va_arg(ap, Bitdex__V1__Value *);
    va_end(ap);
    return f;
}

static Bitdex__V1__SortFieldValue *sv(const char *name, uint64_t x)
{
    Bitdex__V1__SortFieldValue *s =
        NEW(Bitdex__V1__SortFieldValue, BITDEX__V1__SORT_FIELD_VALUE__INIT);
    s->field = strdup(name);
    s->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE;
    s->value = x;
    return s;
}

static Bitdex__V1__SortFieldValue *sv_null(const char *name)
{
    Bitdex__V1__SortFieldValue *s = sv(name, 0);
    s->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_NULL_VALUE;
    s->null_value = NEW(Bitdex__V1__Null, BITDEX__V1__NULL__INIT);
    return s;
}

static Bitdex__V1__StoredFieldValue *st_str(const char *name, const char *s)
{
    Bitdex__V1__StoredFieldValue *f =
        NEW(Bitdex__V1__StoredFieldValue, BITDEX__V1__STORED_FIELD_VALUE__INIT);
    f->field = strdup(name);
    f->value = NEW(Bitdex__V1__StoredValue, BITDEX__V1__STORED_VALUE__INIT);
    f->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE;
    f->value->string_value = strdup(s);
    return f;
}

static Bitdex__V1__StoredFieldValue *st_int(const char *name, int64_t x)
{
    Bitdex__V1__StoredFieldValue *f = st_str(name, "");
    free(f->value->string_value);
    f->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE;
    f->value->int_value = x;
    return f;
}

static Bitdex__V1__StoredFieldValue *st_null(const char *name)
{
    Bitdex__V1__StoredFieldValue *f = st_str(name, "");
    free(f->value->string_value);
    f->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE;
    f->value->null_value = NEW(Bitdex__V1__Null, BITDEX__V1__NULL__INIT);
    return f;
}

#define PUSH(arr, n, x)                                     \
    do {                                                    \
        (arr) = realloc((arr), ((n) + 1) * sizeof(*(arr))); \
        (arr)[(n)++] = (x);                                 \
    } while (0)

static Bitdex__V1__Document *doc(uint32_t id)
{
    Bitdex__V1__Document *d = NEW(Bitdex__V1__Document, BITDEX__V1__DOCUMENT__INIT);
    d->id = id;
    return d;
}

static Bitdex__V1__Document *with_f(Bitdex__V1__Document *d, Bitdex__V1__FieldValue *f)
{
    PUSH(d->filter_fields, d->n_filter_fields, f);
    return d;
}

static Bitdex__V1__Document *with_s(Bitdex__V1__Document *d, Bitdex__V1__SortFieldValue *s)
{
    PUSH(d->sort_fields, d->n_sort_fields, s);
    return d;
}

static Bitdex__V1__Document *with_st(Bitdex__V1__Document *d, Bitdex__V1__StoredFieldValue *s)
{
    PUSH(d->stored_fields, d->n_stored_fields, s);
    return d;
}

static Bitdex__V1__Op *op_put(Bitdex__V1__Document *d)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    op->op_case = BITDEX__V1__OP__OP_PUT;
    op->put = NEW(Bitdex__V1__PutOp, BITDEX__V1__PUT_OP__INIT);
    op->put->document = d;
    return op;
}

static Bitdex__V1__Op *op_merge(Bitdex__V1__Document *d)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    op->op_case = BITDEX__V1__OP__OP_MERGE;
    op->merge = NEW(Bitdex__V1__MergeOp, BITDEX__V1__MERGE_OP__INIT);
    op->merge->document = d;
    return op;
}

static Bitdex__V1__Op *op_delete(uint32_t id)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    op->op_case = BITDEX__V1__OP__OP_DELETE;
    op->delete_ = NEW(Bitdex__V1__DeleteOp, BITDEX__V1__DELETE_OP__INIT);
    op->delete_->id = id;
    return op;
}

static Bitdex__V1__Op *op_set(uint32_t id)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    op->op_case = BITDEX__V1__OP__OP_SET;
    op->set = NEW(Bitdex__V1__SetOp, BITDEX__V1__SET_OP__INIT);
    op->set->id = id;
    return op;
}

static Bitdex__V1__Op *op_set_filter(uint32_t id, Bitdex__V1__FieldValue *f)
{
    Bitdex__V1__Op *op = op_set(id);
    op->set->field_case = BITDEX__V1__SET_OP__FIELD_FILTER;
    op->set->filter = f;
    return op;
}

static Bitdex__V1__Op *op_set_sort(uint32_t id, Bitdex__V1__SortFieldValue *s)
{
    Bitdex__V1__Op *op = op_set(id);
    op->set->field_case = BITDEX__V1__SET_OP__FIELD_SORT;
    op->set->sort = s;
    return op;
}

static Bitdex__V1__Op *op_set_stored(uint32_t id, Bitdex__V1__StoredFieldValue *s)
{
    Bitdex__V1__Op *op = op_set(id);
    op->set->field_case = BITDEX__V1__SET_OP__FIELD_STORED;
    op->set->stored = s;
    return op;
}

static Bitdex__V1__Op *op_multi(bool remove, uint32_t id, const char *field, size_t n, ...)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    Bitdex__V1__MultiValueOp *m = NEW(Bitdex__V1__MultiValueOp, BITDEX__V1__MULTI_VALUE_OP__INIT);
    va_list ap;

    m->id = id;
    m->field = strdup(field);
    m->n_values = n;
    m->values = n ? malloc(n * sizeof(*m->values)) : NULL;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        m->values[i] = va_arg(ap, Bitdex__V1__Value *);
    va_end(ap);
    op->op_case = remove ? BITDEX__V1__OP__OP_REMOVE : BITDEX__V1__OP__OP_ADD;
    if (remove)
        op->remove = m;
    else
        op->add = m;
    return op;
}

static Bitdex__V1__ApplyRequest *req_new(void)
{
    Bitdex__V1__ApplyRequest *r = NEW(Bitdex__V1__ApplyRequest, BITDEX__V1__APPLY_REQUEST__INIT);
    r->index = strdup("images");
    return r;
}

static Bitdex__V1__ApplyRequest *req_add(Bitdex__V1__ApplyRequest *r, Bitdex__V1__Op *op)
{
    PUSH(r->ops, r->n_ops, op);
    return r;
}

static void req_free(Bitdex__V1__ApplyRequest *r)
{
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- the index under test ---- */

enum {
    F_LEVEL,
    F_TAGS,
    F_USER,
    F_FLAG,
    F_NOTE
};
enum {
    S_REACT,
    S_COMMENTS,
    S_TOP
};

static index_t *make_index(void)
{
    schema_t *s;
    index_t *ix;

    cr_assert_eq(schema_new("images", &s), 0);
    cr_assert_eq(schema_add_filter(s, "nsfwLevel", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "tagIds", SCHEMA_INT, true, false), 0);
    cr_assert_eq(schema_add_filter(s, "userName", SCHEMA_STRING, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "hasMeta", SCHEMA_BOOL, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "note", SCHEMA_STRING, false, true), 0);
    cr_assert_eq(schema_add_sort(s, "reactionCount", 8), 0);
    cr_assert_eq(schema_add_sort(s, "commentCount", 32), 0);
    cr_assert_eq(schema_add_computed_sort(s, "top", 32, SCHEMA_COMPUTED_GREATEST, "reactionCount",
                                          "commentCount"),
                 0);
    cr_assert_eq(schema_add_stored(s, "url", SCHEMA_STRING), 0);
    cr_assert_eq(schema_add_stored(s, "width", SCHEMA_INT), 0);
    cr_assert_eq(index_new(s, &ix, NULL), 0);
    schema_free(s);
    return ix;
}

static bool has_int(const index_t *ix, size_t field, int64_t key, uint32_t slot)
{
    const roaring_bitmap_t *b = index_filter_value(ix, field, key);
    return b != NULL && roaring_bitmap_contains(b, slot);
}

static bool has_str(const index_t *ix, size_t field, const char *s, uint32_t slot)
{
    int64_t key;
    if (dictionary_lookup(index_dict(ix, field), s, &key) != 0)
        return false;
    return has_int(ix, field, key, slot);
}

static bool has_sort(const index_t *ix, size_t field, uint32_t slot, uint64_t *v)
{
    return bsi_get(index_sort_bsi(ix, field), slot, v);
}

/* ---- validation: code and exact message ---- */

static index_t *ix;
static void setup(void)
{
    ix = make_index();
}
static void teardown(void)
{
    index_free(ix);
}

TestSuite(apply_check, .init = setup, .fini = teardown);

/* A valid first op, then `bad`: checks the code and message of the rejection. */
static void expect(Bitdex__V1__Op *bad, int code, const char *msg)
{
    Bitdex__V1__ApplyRequest *r = req_new();
    bdx_error_t err = {0};

    req_add(r, op_put(with_f(doc(1), fv1("nsfwLevel", v_int(1)))));
    req_add(r, bad);
    cr_assert_eq(apply_check(ix, NULL, r, &err), code, "code %d, msg %s", err.code, err.msg);
    cr_assert_eq(err.code, code);
    cr_assert_str_eq(err.msg, msg);
    req_free(r);
}

Test(apply_check, valid_batch_passes)
{
    Bitdex__V1__ApplyRequest *r = req_new();
    bdx_error_t err = {0};

    req_add(r, op_put(with_st(with_s(with_f(with_f(doc(1), fv1("nsfwLevel", v_int(3))),
                                            fvn("tagIds", 2, v_int(5), v_int(6))),
                                     sv("reactionCount", 255)),
                              st_str("url", "https://x"))));
    req_add(r, op_merge(with_f(doc(2), fv1("note", v_null()))));
    req_add(r, op_delete(7));
    req_add(r, op_set_filter(1, fv1("userName", v_str("bob"))));
    req_add(r, op_set_sort(1, sv("commentCount", 70000)));
    req_add(r, op_multi(false, 1, "tagIds", 1, v_int(9)));
    req_add(r, op_multi(true, 1, "tagIds", 1, v_int(5)));
    req_add(r, op_put(with_s(doc(3), sv_null("reactionCount")))); /* null in Put = left out */
    cr_assert_eq(apply_check(ix, NULL, r, &err), 0, "%s", err.msg);
    req_free(r);
}

Test(apply_check, batch_level)
{
    Bitdex__V1__ApplyRequest *r = req_new();
    bdx_error_t err = {0};
    limits_t lim;
    char id[200];

    cr_assert_eq(apply_check(ix, NULL, r, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "ops: at least one op required");
    req_add(r, op_delete(1));
    req_add(r, op_delete(2));
    limits_defaults(&lim);
    lim.max_batch_ops = 1;
    cr_assert_eq(apply_check(ix, &lim, r, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "ops: 2 ops exceed max_batch_ops 1");
    memset(id, 'x', 129);
    id[129] = '\0';
    r->batch_id = strdup(id);
    cr_assert_eq(apply_check(ix, NULL, r, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "batch_id: 129 bytes exceed 128");
    req_free(r);
}

Test(apply_check, op_and_document_shape)
{
    expect(NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT), BDX_EINVAL,
           "ops[1]: no operation set (exactly one of put, merge, delete, set, add, remove)");
    expect(op_put(NULL), BDX_EINVAL, "ops[1].put.document: required");
    expect(op_merge(NULL), BDX_EINVAL, "ops[1].merge.document: required");
    expect(op_set(4), BDX_EINVAL, "ops[1].set: no field set (exactly one of filter, sort, stored)");
}

Test(apply_check, filter_fields)
{
    expect(op_put(with_f(doc(2), fv1("nope", v_int(1)))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].field: unknown filter field \"nope\"");
    expect(op_put(with_f(doc(2), fv1("reactionCount", v_int(1)))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].field: \"reactionCount\" is a sort field, not a "
           "filter field");
    expect(op_merge(with_f(with_f(doc(2), fv1("nsfwLevel", v_int(1))), fv1("userName", v_int(1)))),
           BDX_EINVAL,
           "ops[1].merge.document.filter_fields[1].value: field \"userName\" is STRING, got int");
    expect(op_put(with_f(doc(2), fv1("nsfwLevel", v_str("x")))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].value: field \"nsfwLevel\" is INT, got string");
    expect(op_put(with_f(doc(2), fv1("hasMeta", v_int(1)))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].value: field \"hasMeta\" is BOOL, got int");
    expect(op_put(with_f(doc(2), fv1("nsfwLevel", v_none()))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].value: no value set (field \"nsfwLevel\")");
    expect(op_put(with_f(doc(2), fv1("nsfwLevel", NULL))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].value: required for single-valued field "
           "\"nsfwLevel\"");
    expect(op_put(with_f(doc(2), fv1("nsfwLevel", v_null()))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].value: null on non-nullable field \"nsfwLevel\"");
    expect(op_put(with_f(doc(2), fvn("nsfwLevel", 1, v_int(1)))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].values: field \"nsfwLevel\" is single-valued: set "
           "value, not values");
    expect(op_put(with_f(doc(2), fv1("tagIds", v_int(1)))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].value: field \"tagIds\" is multi-valued: set "
           "values, not value");
    expect(op_put(with_f(doc(2), fvn("tagIds", 2, v_int(1), v_null()))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].values[1]: null is not allowed in a list of "
           "values (field \"tagIds\")");
    expect(op_put(with_f(doc(2), fvn("tagIds", 2, v_int(1), v_bool(true)))), BDX_EINVAL,
           "ops[1].put.document.filter_fields[0].values[1]: field \"tagIds\" is INT, got bool");
    expect(op_put(with_f(with_f(doc(2), fv1("nsfwLevel", v_int(1))), fv1("nsfwLevel", v_int(2)))),
           BDX_EINVAL,
           "ops[1].put.document.filter_fields[1]: field \"nsfwLevel\" appears more than once in "
           "the document");
}

Test(apply_check, limits)
{
    Bitdex__V1__ApplyRequest *r = req_new();
    bdx_error_t err = {0};
    limits_t lim;

    limits_defaults(&lim);
    lim.max_values_per_field = 2;
    lim.max_string_bytes = 3;
    lim.max_stored_bytes = 4;
    req_add(r, op_put(with_f(doc(2), fvn("tagIds", 3, v_int(1), v_int(2), v_int(3)))));
    cr_assert_eq(apply_check(ix, &lim, r, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "ops[0].put.document.filter_fields[0].values: 3 values exceed "
                              "max_values_per_field 2 (field \"tagIds\")");
    req_free(r);
    r = req_add(req_new(), op_set_filter(2, fv1("userName", v_str("abcd"))));
    cr_assert_eq(apply_check(ix, &lim, r, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg,
                     "ops[0].set.filter.value: string of 4 bytes exceeds max_string_bytes 3");
    req_free(r);
    r = req_add(req_new(), op_put(with_st(doc(2), st_str("url", "abcde"))));
    cr_assert_eq(apply_check(ix, &lim, r, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg,
                     "ops[0].put.document.stored_fields: 5 bytes exceed max_stored_bytes 4");
    req_free(r);
}

Test(apply_check, sort_fields)
{
    expect(op_put(with_s(doc(2), sv("reactionCount", 256))), BDX_EINVAL,
           "ops[1].put.document.sort_fields[0].value: 256 does not fit sort field "
           "\"reactionCount\" (8 bits, max 255)");
    expect(op_put(with_s(doc(2), sv("top", 1))), BDX_EINVAL,
           "ops[1].put.document.sort_fields[0].field: sort field \"top\" is computed and cannot "
           "be written");
    expect(op_put(with_s(doc(2), sv("nsfwLevel", 1))), BDX_EINVAL,
           "ops[1].put.document.sort_fields[0].field: \"nsfwLevel\" is a filter field, not a "
           "sort field");
    expect(op_put(with_s(doc(2), sv("nope", 1))), BDX_EINVAL,
           "ops[1].put.document.sort_fields[0].field: unknown sort field \"nope\"");
    Bitdex__V1__SortFieldValue *unset = sv("reactionCount", 1);
    unset->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND__NOT_SET;
    expect(op_set_sort(2, unset), BDX_EINVAL,
           "ops[1].set.sort: value or null_value required (sort field \"reactionCount\")");
    expect(op_set_sort(2, sv_null("top")), BDX_EINVAL,
           "ops[1].set.sort.field: sort field \"top\" is computed and cannot be written");
}

Test(apply_check, stored_fields)
{
    expect(op_put(with_st(doc(2), st_str("nope", "x"))), BDX_EINVAL,
           "ops[1].put.document.stored_fields[0].field: unknown stored field \"nope\"");
    expect(op_put(with_st(doc(2), st_int("url", 3))), BDX_EINVAL,
           "ops[1].put.document.stored_fields[0].value: stored field \"url\" is STRING, got "
           "another type");
    Bitdex__V1__StoredFieldValue *none = st_str("url", "x");
    free(none->value->string_value);
    none->value->kind_case = BITDEX__V1__STORED_VALUE__KIND__NOT_SET;
    expect(op_put(with_st(doc(2), none)), BDX_EINVAL,
           "ops[1].put.document.stored_fields[0].value: required (stored field \"url\")");
}

Test(apply_check, multi_value_ops)
{
    expect(op_multi(false, 2, "nsfwLevel", 1, v_int(1)), BDX_EINVAL,
           "ops[1].add.field: field \"nsfwLevel\" is single-valued (add and remove need a "
           "multi-valued field)");
    expect(op_multi(true, 2, "nope", 1, v_int(1)), BDX_EINVAL,
           "ops[1].remove.field: unknown filter field \"nope\"");
    expect(op_multi(false, 2, "tagIds", 0), BDX_EINVAL,
           "ops[1].add.values: at least one value required (field \"tagIds\")");
    expect(op_multi(true, 2, "tagIds", 1, v_str("x")), BDX_EINVAL,
           "ops[1].remove.values[0]: field \"tagIds\" is INT, got string");
    expect(op_multi(false, 2, "tagIds", 1, v_null()), BDX_EINVAL,
           "ops[1].add.values[0]: null is not allowed in a list of values (field \"tagIds\")");
}

/* ---- application ---- */

TestSuite(apply_run, .init = setup, .fini = teardown);

static apply_stats_t run(Bitdex__V1__ApplyRequest *r)
{
    apply_stats_t st;
    bdx_error_t err = {0};

    cr_assert_eq(apply_check(ix, NULL, r, &err), 0, "%s", err.msg);
    cr_assert_eq(apply_run(ix, r, &st, &err), 0, "%s", err.msg);
    req_free(r);
    return st;
}

Test(apply_run, bad_last_op_changes_nothing)
{
    Bitdex__V1__ApplyRequest *r = req_new();
    bdx_error_t err = {0};

    run(req_add(req_new(), op_put(with_f(doc(1), fv1("nsfwLevel", v_int(1))))));
    req_add(r, op_put(with_f(doc(2), fv1("nsfwLevel", v_int(2)))));
    req_add(r, op_delete(1));
    req_add(r, op_put(with_f(doc(3), fv1("nsfwLevel", v_str("bad")))));
    cr_assert_eq(apply_check(ix, NULL, r, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg,
                     "ops[2].put.document.filter_fields[0].value: field \"nsfwLevel\" is INT, got "
                     "string");
    req_free(r);
    cr_assert_eq(index_doc_count(ix), 1);
    cr_assert(index_doc_exists(ix, 1));
    cr_assert(has_int(ix, F_LEVEL, 1, 1));
    cr_assert_null(index_filter_value(ix, F_LEVEL, 2));
}

Test(apply_run, put_defaults_and_replaces)
{
    uint64_t v;

    run(req_add(req_new(), op_put(with_s(with_f(with_f(doc(5), fv1("nsfwLevel", v_int(7))),
                                                fvn("tagIds", 2, v_int(1), v_int(2))),
                                         sv("reactionCount", 9)))));
    cr_assert(has_int(ix, F_LEVEL, 7, 5));
    cr_assert(has_int(ix, F_TAGS, 1, 5) && has_int(ix, F_TAGS, 2, 5));
    cr_assert(has_str(ix, F_USER, "", 5), "non-nullable string defaults to \"\"");
    cr_assert(has_int(ix, F_FLAG, 0, 5), "non-nullable bool defaults to false");
    cr_assert(!roaring_bitmap_contains(index_filter_exists(ix, F_NOTE), 5), "nullable: no value");
    cr_assert(has_sort(ix, S_REACT, 5, &v) && v == 9);
    cr_assert(has_sort(ix, S_TOP, 5, &v) && v == 9);
    /* Put replaces: tags and reactionCount go away, nsfwLevel back to 0 */
    run(req_add(req_new(), op_put(with_f(doc(5), fv1("note", v_str("hi"))))));
    cr_assert(has_int(ix, F_LEVEL, 0, 5));
    cr_assert(!roaring_bitmap_contains(index_filter_exists(ix, F_TAGS), 5));
    cr_assert(!has_sort(ix, S_REACT, 5, &v));
    cr_assert(has_str(ix, F_NOTE, "hi", 5));
    cr_assert_eq(index_doc_count(ix), 1);
}

Test(apply_run, merge_keeps_and_creates)
{
    uint64_t v;

    run(req_add(req_new(), op_merge(with_s(with_f(doc(8), fv1("userName", v_str("ann"))),
                                           sv("commentCount", 4)))));
    cr_assert(has_str(ix, F_USER, "ann", 8));
    cr_assert(has_int(ix, F_LEVEL, 0, 8), "a created document gets Put's defaults");
    run(req_add(req_new(), op_merge(with_f(doc(8), fv1("nsfwLevel", v_int(3))))));
    cr_assert(has_str(ix, F_USER, "ann", 8), "merge keeps unlisted fields");
    cr_assert(has_int(ix, F_LEVEL, 3, 8) && !has_int(ix, F_LEVEL, 0, 8));
    cr_assert(has_sort(ix, S_COMMENTS, 8, &v) && v == 4);
    run(req_add(req_new(), op_merge(with_f(doc(8), fv1("note", v_null())))));
    cr_assert_not_null(index_filter_null(ix, F_NOTE));
    cr_assert(roaring_bitmap_contains(index_filter_null(ix, F_NOTE), 8));
}

Test(apply_run, skipped_ops_on_missing_documents)
{
    apply_stats_t st;
    Bitdex__V1__ApplyRequest *r = req_new();

    req_add(r, op_delete(40));
    req_add(r, op_set_filter(40, fv1("nsfwLevel", v_int(1))));
    req_add(r, op_set_sort(40, sv("reactionCount", 1)));
    req_add(r, op_multi(false, 40, "tagIds", 1, v_int(1)));
    req_add(r, op_multi(true, 40, "tagIds", 1, v_int(1)));
    req_add(r, op_put(with_f(doc(41), fv1("nsfwLevel", v_int(1)))));
    req_add(r, op_multi(false, 41, "tagIds", 2, v_int(3), v_int(3)));
    req_add(r, op_delete(41));
    req_add(r, op_set_filter(41, fv1("nsfwLevel", v_int(2)))); /* sees the delete before it */
    st = run(r);
    cr_assert_eq(st.ops, 9);
    cr_assert_eq(st.skipped, 6);
    cr_assert_eq(index_doc_count(ix), 0);
    cr_assert_null(index_filter_value(ix, F_TAGS, 3));
}

Test(apply_run, set_add_remove)
{
    uint64_t v;

    run(req_add(req_new(), op_put(with_f(doc(2), fvn("tagIds", 2, v_int(1), v_int(2))))));
    run(req_add(req_add(req_add(req_add(req_new(), op_multi(false, 2, "tagIds", 1, v_int(3))),
                                op_multi(true, 2, "tagIds", 2, v_int(1), v_int(99))),
                        op_set_sort(2, sv("reactionCount", 200))),
                op_set_filter(2, fv1("hasMeta", v_bool(true)))));
    cr_assert(!has_int(ix, F_TAGS, 1, 2) && has_int(ix, F_TAGS, 2, 2) && has_int(ix, F_TAGS, 3, 2));
    cr_assert(has_int(ix, F_FLAG, 1, 2) && !has_int(ix, F_FLAG, 0, 2));
    cr_assert(has_sort(ix, S_REACT, 2, &v) && v == 200);
    run(req_add(req_new(), op_set_filter(2, fvn("tagIds", 0))));
    cr_assert(!roaring_bitmap_contains(index_filter_exists(ix, F_TAGS), 2));
}

/* The stored fields of a document: url (empty string = absent: the tests never store "") and
 * width (*has_w). */
static void stored_of(uint32_t id, char *url, size_t cap, bool *has_w, int64_t *w)
{
    size_t len, n;
    const uint8_t *blob = index_stored(ix, id, &len);
    Bitdex__V1__StoredFieldValue **got;
    bdx_error_t err = {0};

    url[0] = '\0';
    *has_w = false;
    *w = 0;
    cr_assert_eq(docstore_decode(index_schema(ix), blob, len, NULL, 0, &got, &n, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(len > 0, n > 0, "a blob exists only with stored fields");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(got[i]->field, "url") == 0) {
            cr_assert_eq(got[i]->value->kind_case, BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE);
            snprintf(url, cap, "%s", got[i]->value->string_value);
        } else {
            cr_assert_str_eq(got[i]->field, "width");
            *has_w = true;
            *w = got[i]->value->int_value;
        }
    }
    docstore_fields_free(got, n);
}

static void expect_stored(uint32_t id, const char *url, bool has_w, int64_t w)
{
    char u[64];
    bool hw;
    int64_t gw;

    stored_of(id, u, sizeof(u), &hw, &gw);
    cr_assert_str_eq(u, url, "id %u url", id);
    cr_assert_eq(hw, has_w, "id %u has width", id);
    if (has_w)
        cr_assert_eq(gw, w, "id %u width", id);
}

Test(apply_run, null_clears_sort_values)
{
    uint64_t v;
    apply_stats_t st;

    run(req_add(req_new(),
                op_put(with_s(with_s(doc(4), sv("reactionCount", 9)), sv("commentCount", 20)))));
    cr_assert(has_sort(ix, S_TOP, 4, &v) && v == 20);
    /* Merge: Null clears commentCount, top falls back to reactionCount; others kept */
    run(req_add(req_new(), op_merge(with_s(with_f(doc(4), fv1("nsfwLevel", v_int(3))),
                                           sv_null("commentCount")))));
    cr_assert(!has_sort(ix, S_COMMENTS, 4, &v));
    cr_assert_eq(index_sort_value(ix, S_COMMENTS, 4), 0);
    cr_assert(has_sort(ix, S_REACT, 4, &v) && v == 9);
    cr_assert(has_sort(ix, S_TOP, 4, &v) && v == 9);
    cr_assert(has_int(ix, F_LEVEL, 3, 4));
    /* Set: Null clears reactionCount, top has no source left */
    run(req_add(req_new(), op_set_sort(4, sv_null("reactionCount"))));
    cr_assert(!has_sort(ix, S_REACT, 4, &v));
    cr_assert(!has_sort(ix, S_TOP, 4, &v));
    cr_assert(index_doc_exists(ix, 4));
    /* clearing again, or a missing document: no-ops (the latter skipped) */
    run(req_add(req_new(), op_set_sort(4, sv_null("reactionCount"))));
    st = run(req_add(req_new(), op_set_sort(77, sv_null("reactionCount"))));
    cr_assert_eq(st.skipped, 1);
    cr_assert(!index_doc_exists(ix, 77));
    /* a Merge creating a document: Null = left out, like a Put */
    run(req_add(req_new(), op_merge(with_s(with_s(doc(78), sv_null("reactionCount")),
                                           sv("commentCount", 2)))));
    cr_assert(!has_sort(ix, S_REACT, 78, &v));
    cr_assert(has_sort(ix, S_TOP, 78, &v) && v == 2);
}

Test(apply_run, stored_fields_kept)
{
    apply_stats_t st;

    run(req_add(req_new(),
                op_put(with_st(with_st(doc(3), st_str("url", "a")), st_int("width", 5)))));
    expect_stored(3, "a", true, 5);
    run(req_add(req_new(), op_merge(with_st(doc(3), st_str("url", "b")))));
    expect_stored(3, "b", true, 5);
    run(req_add(req_new(), op_merge(with_f(doc(3), fv1("nsfwLevel", v_int(2))))));
    expect_stored(3, "b", true, 5); /* a merge without stored fields keeps them */
    run(req_add(req_new(), op_merge(with_st(doc(3), st_null("width")))));
    expect_stored(3, "b", false, 0);
    run(req_add(req_new(), op_set_stored(3, st_null("url"))));
    expect_stored(3, "", false, 0);
    cr_assert(index_doc_exists(ix, 3), "removing the last stored field keeps the document");
    run(req_add(req_new(), op_set_stored(3, st_int("width", 7))));
    expect_stored(3, "", true, 7);
    run(req_add(req_new(), op_set_filter(3, fv1("nsfwLevel", v_int(4)))));
    expect_stored(3, "", true, 7);
    run(req_add(req_new(), op_put(with_f(doc(3), fv1("nsfwLevel", v_int(1))))));
    expect_stored(3, "", false, 0); /* Put replaces the stored fields too */
    run(req_add(req_new(), op_put(with_st(with_st(doc(3), st_str("url", "c")), st_null("width")))));
    expect_stored(3, "c", false, 0); /* Null in a Put = left out */
    run(req_add(req_new(), op_delete(3)));
    expect_stored(3, "", false, 0);
    run(req_add(req_new(), op_merge(with_st(doc(9), st_str("url", "new")))));
    expect_stored(9, "new", false, 0);
    cr_assert(has_int(ix, F_LEVEL, 0, 9), "a merge-created document gets Put's defaults");
    st = run(req_add(req_new(), op_set_stored(10, st_str("url", "x"))));
    cr_assert_eq(st.skipped, 1);
    expect_stored(10, "", false, 0);
    cr_assert(!index_doc_exists(ix, 10));
    {
        index_memory_t m;
        index_memory(ix, &m);
        cr_assert_gt(m.docstore, 0);
        cr_assert_geq(m.total, m.docstore + m.forward + m.bitmaps);
    }
}

/* ---- random batches against a model ---- */

#define NIDS 48
#define NTAGS 6

typedef struct mdoc {
    bool alive;
    int64_t level;
    unsigned tags; /* bit set of tags 0..NTAGS-1 */
    bool has_react;
    uint64_t react;
    char url[8]; /* "" = absent */
    bool has_width;
    int64_t width;
} mdoc_t;

static uint64_t rng;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static Bitdex__V1__FieldValue *tags_fv(unsigned set)
{
    Bitdex__V1__FieldValue *f = fvn("tagIds", 0);
    for (int t = 0; t < NTAGS; t++)
        if (set & (1u << t))
            PUSH(f->values, f->n_values, v_int(t));
    return f;
}

Test(apply_run, random_batches_match_model)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    uint64_t seed = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    mdoc_t m[NIDS] = {{0}};

    rng = seed;
    for (int batch = 0; batch < 200; batch++) {
        Bitdex__V1__ApplyRequest *r = req_new();
        mdoc_t next[NIDS];
        uint32_t skipped = 0, nops = 1 + rnd() % 8;
        apply_stats_t st;
        memcpy(next, m, sizeof(m));
        for (uint32_t k = 0; k < nops; k++) {
            uint32_t id = rnd() % NIDS;
            mdoc_t *d = &next[id];
            unsigned tags = rnd() % (1u << NTAGS);
            int64_t level = (int64_t)(rnd() % 4);
            uint64_t react = rnd() % 256;
            char url[8];
            int64_t width = (int64_t)(rnd() % 5) - 2;
            int url_op = (int)(rnd() % 3), width_op = (int)(rnd() % 3); /* 0 none, 1 set, 2 null */
            Bitdex__V1__Document *dd;
            snprintf(url, sizeof(url), "u%u", (unsigned)(rnd() % 100));
            switch (rnd() % 7) {
            case 0:
                dd = with_s(with_f(with_f(doc(id), fv1("nsfwLevel", v_int(level))), tags_fv(tags)),
                            sv("reactionCount", react));
                if (url_op)
                    with_st(dd, url_op == 1 ? st_str("url", url) : st_null("url"));
                if (width_op)
                    with_st(dd, width_op == 1 ? st_int("width", width) : st_null("width"));
                req_add(r, op_put(dd));
                *d = (mdoc_t){true, level, tags, true, react, "", width_op == 1, width};
                if (url_op == 1)
                    snprintf(d->url, sizeof(d->url), "%s", url);
                break;
            case 1:
                dd = with_f(doc(id), tags_fv(tags));
                if (react % 4 == 0) /* clears a live document's value; left out when creating */
                    with_s(dd, sv_null("reactionCount"));
                if (url_op)
                    with_st(dd, url_op == 1 ? st_str("url", url) : st_null("url"));
                if (width_op)
                    with_st(dd, width_op == 1 ? st_int("width", width) : st_null("width"));
                req_add(r, op_merge(dd));
                if (!d->alive)
                    *d = (mdoc_t){true, 0, 0, false, 0, "", false, 0};
                d->tags = tags;
                if (react % 4 == 0)
                    d->has_react = false, d->react = 0;
                if (url_op)
                    snprintf(d->url, sizeof(d->url), "%s", url_op == 1 ? url : "");
                if (width_op)
                    d->has_width = width_op == 1, d->width = width;
                break;
            case 6:
                if (url_op == 0) {
                    req_add(r, op_set_stored(id, width_op == 1 ? st_int("width", width)
                                                               : st_null("width")));
                    if (d->alive)
                        d->has_width = width_op == 1, d->width = width;
                } else {
                    req_add(r,
                            op_set_stored(id, url_op == 1 ? st_str("url", url) : st_null("url")));
                    if (d->alive)
                        snprintf(d->url, sizeof(d->url), "%s", url_op == 1 ? url : "");
                }
                skipped += !d->alive;
                break;
            case 2:
                req_add(r, op_delete(id));
                skipped += !d->alive;
                *d = (mdoc_t){0};
                break;
            case 3:
                if (react % 3 == 0) { /* Null clears the value */
                    req_add(r, op_set_sort(id, sv_null("reactionCount")));
                    if (d->alive)
                        d->has_react = false, d->react = 0;
                } else {
                    req_add(r, op_set_sort(id, sv("reactionCount", react)));
                    if (d->alive)
                        d->has_react = true, d->react = react;
                }
                skipped += !d->alive;
                break;
            case 4:
                req_add(r, op_multi(false, id, "tagIds", 1, v_int((int64_t)(tags % NTAGS))));
                skipped += !d->alive;
                if (d->alive)
                    d->tags |= 1u << (tags % NTAGS);
                break;
            default:
                req_add(r, op_multi(true, id, "tagIds", 1, v_int((int64_t)(tags % NTAGS))));
                skipped += !d->alive;
                if (d->alive)
                    d->tags &= ~(1u << (tags % NTAGS));
                break;
            }
        }
        bool poison = rnd() % 10 == 0;
        if (poison) /* a bad op at the end: nothing of the batch may be applied */
            req_add(r, op_put(with_f(doc(0), fv1("nsfwLevel", v_bool(true)))));
        bdx_error_t err = {0};
        int rc = apply_check(ix, NULL, r, &err);
        if (poison) {
            cr_assert_eq(rc, BDX_EINVAL, "seed %llu", (unsigned long long)seed);
        } else {
            cr_assert_eq(rc, 0, "seed %llu: %s", (unsigned long long)seed, err.msg);
            cr_assert_eq(apply_run(ix, r, &st, &err), 0, "%s", err.msg);
            cr_assert_eq(st.ops, nops);
            cr_assert_eq(st.skipped, skipped, "seed %llu batch %d", (unsigned long long)seed,
                         batch);
            memcpy(m, next, sizeof(m));
        }
        req_free(r);
        uint64_t live = 0;
        for (uint32_t id = 0; id < NIDS; id++) {
            uint64_t v;
            live += m[id].alive;
            cr_assert_eq(index_doc_exists(ix, id), m[id].alive, "seed %llu id %u",
                         (unsigned long long)seed, id);
            if (!m[id].alive)
                continue;
            cr_assert(has_int(ix, F_LEVEL, m[id].level, id), "seed %llu id %u",
                      (unsigned long long)seed, id);
            for (int t = 0; t < NTAGS; t++)
                cr_assert_eq(has_int(ix, F_TAGS, t, id), (m[id].tags >> t) & 1,
                             "seed %llu id %u tag %d", (unsigned long long)seed, id, t);
            cr_assert_eq(has_sort(ix, S_REACT, id, &v), m[id].has_react);
            if (m[id].has_react)
                cr_assert_eq(v, m[id].react);
        }
        for (uint32_t id = 0; id < NIDS; id++) { /* dead documents have no stored fields */
            char url[64];
            bool hw;
            int64_t w;
            stored_of(id, url, sizeof(url), &hw, &w);
            cr_assert_str_eq(url, m[id].url, "seed %llu id %u url", (unsigned long long)seed, id);
            cr_assert_eq(hw, m[id].has_width, "seed %llu id %u width", (unsigned long long)seed,
                         id);
            if (hw)
                cr_assert_eq(w, m[id].width, "seed %llu id %u", (unsigned long long)seed, id);
        }
        cr_assert_eq(index_doc_count(ix), live);
    }
}

/* ---- the bulk path of apply_run() against one index_put() per Put ---- */

/* Every bitmap, column value and forward record of the two indexes are equal. */
static bool value_eq(int64_t key, const roaring_bitmap_t *bm, void *arg)
{
    const void **a = arg;
    const roaring_bitmap_t *other = index_filter_value(a[0], *(const size_t *)a[1], key);
    cr_assert_not_null(other, "value %lld only on one side", (long long)key);
    cr_assert(roaring_bitmap_equals(bm, other), "value %lld differs", (long long)key);
    return true;
}

static void bm_eq(const roaring_bitmap_t *a, const roaring_bitmap_t *b, const char *what)
{
    cr_assert_eq(a == NULL, b == NULL, "%s: NULL on one side", what);
    if (a != NULL)
        cr_assert(roaring_bitmap_equals(a, b), "%s differs", what);
}

static void index_eq(const index_t *a, const index_t *b, uint32_t nslots)
{
    const schema_t *s = index_schema(a);

    bm_eq(index_alive(a), index_alive(b), "alive");
    bm_eq(index_touched(a), index_touched(b), "touched");
    for (size_t f = 0; f < s->filter_count; f++) {
        const void *arg[2] = {b, &f};
        cr_assert_eq(index_filter_value_count(a, f), index_filter_value_count(b, f), "field %zu",
                     f);
        index_filter_range(a, f, INT64_MIN, INT64_MAX, value_eq, arg);
        bm_eq(index_filter_null(a, f), index_filter_null(b, f), "null");
        bm_eq(index_filter_exists(a, f), index_filter_exists(b, f), "exists");
    }
    for (size_t k = 0; k < s->sort_count; k++) {
        const bsi_t *x = index_sort_bsi(a, k), *y = index_sort_bsi(b, k);
        bm_eq(bsi_exists(x), bsi_exists(y), "bsi exists");
        for (unsigned bit = 0; bit < bsi_bits(x); bit++)
            bm_eq(bsi_slice(x, bit), bsi_slice(y, bit), "bsi slice");
        bm_eq(index_sort_dirty(a, k), index_sort_dirty(b, k), "dirty");
        for (uint32_t slot = 0; slot < nslots; slot++)
            cr_assert_eq(index_sort_value(a, k, slot), index_sort_value(b, k, slot));
    }
    for (uint32_t slot = 0; slot < nslots; slot++) {
        docvalues_rec_t ra, rb;
        cr_assert_eq(docvalues_rec_init(&ra, s->filter_count), 0);
        cr_assert_eq(docvalues_rec_init(&rb, s->filter_count), 0);
        cr_assert_eq(index_doc_filters(a, slot, &ra), 0);
        cr_assert_eq(index_doc_filters(b, slot, &rb), 0);
        for (size_t f = 0; f < s->filter_count; f++) {
            size_t na, nb;
            const int64_t *ka = docvalues_rec_keys(&ra, f, &na),
                          *kb = docvalues_rec_keys(&rb, f, &nb);
            cr_assert_eq(ra.fields[f].kind, rb.fields[f].kind, "slot %u field %zu", slot, f);
            cr_assert_eq(na, nb, "slot %u field %zu", slot, f);
            cr_assert(na == 0 || memcmp(ka, kb, na * sizeof(*ka)) == 0, "slot %u field %zu", slot,
                      f);
        }
        docvalues_rec_free(&ra);
        docvalues_rec_free(&rb);
    }
    for (size_t f = 0; f < s->filter_count; f++) /* same strings, same keys */
        if (index_dict(a, f) != NULL)
            cr_assert_eq(dictionary_count(index_dict(a, f)), dictionary_count(index_dict(b, f)));
}

/* A random Put of `id`; `one_by_one` adds a stored field's Null, which keeps the Put off the
 * bulk path without changing its effect (no stored field is left). */
static Bitdex__V1__Op *random_put(uint32_t id, bool one_by_one, uint64_t r)
{
    char name[16];
    Bitdex__V1__Document *d = doc(id);

    if (r % 5 != 0)
        with_f(d, fv1("nsfwLevel", v_int((int64_t)(r % 7))));
    with_f(d, tags_fv((unsigned)(r >> 8) % (1u << NTAGS)));
    snprintf(name, sizeof(name), "user%u", (unsigned)(r >> 16) % 40);
    if (r % 3 != 0)
        with_f(d, fv1("userName", v_str(name)));
    if (r % 4 == 1)
        with_f(d, fv1("note", v_null()));
    else if (r % 4 == 2)
        with_f(d, fv1("note", v_str(name + 2)));
    if ((r >> 24) % 3 != 0)
        with_s(d, sv("reactionCount", (r >> 28) % 256));
    if ((r >> 36) % 3 != 0)
        with_s(d, sv("commentCount", (r >> 40) % 100000));
    if (one_by_one)
        with_st(d, st_null("url"));
    return op_put(d);
}

Test(apply_run, bulk_path_equals_one_by_one)
{
    const char *env = getenv("BITDEX_TEST_SEED");
    uint64_t seed =
        env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    enum {
        NSLOTS = 3000
    };
    index_t *a = make_index(), *b = make_index();

    rng = seed;
    for (int batch = 0; batch < 120; batch++) {
        Bitdex__V1__ApplyRequest *ra = req_new(), *rb = req_new();
        /* runs of ascending ids from a random start (batches land out of order, like
         * concurrent streams), with re-puts, deletes, merges and adds mixed in */
        uint32_t id = (uint32_t)(rnd() % NSLOTS), nops = 1 + (uint32_t)(rnd() % 60);
        for (uint32_t k = 0; k < nops; k++) {
            uint64_t r = rnd();
            uint32_t other = (uint32_t)(rnd() % NSLOTS);
            switch (r % 16) {
            case 0:
                req_add(ra, op_delete(other));
                req_add(rb, op_delete(other));
                break;
            case 1:
                req_add(ra, op_merge(with_f(doc(other), tags_fv((unsigned)r >> 8 & 63))));
                req_add(rb, op_merge(with_f(doc(other), tags_fv((unsigned)r >> 8 & 63))));
                break;
            case 2:
                req_add(ra, op_multi(false, other, "tagIds", 1, v_int(7)));
                req_add(rb, op_multi(false, other, "tagIds", 1, v_int(7)));
                break;
            case 3: /* a Put of an id seen before in the batch, or of a random one */
                req_add(ra, random_put(other, false, r));
                req_add(rb, random_put(other, true, r));
                break;
            default:
                id = (id + 1 + (uint32_t)(r >> 50) % 3) % NSLOTS;
                req_add(ra, random_put(id, false, r));
                req_add(rb, random_put(id, true, r));
                break;
            }
        }
        apply_stats_t sa, sb;
        bdx_error_t err = {0};
        cr_assert_eq(apply_check(a, NULL, ra, &err), 0, "%s", err.msg);
        cr_assert_eq(apply_run(a, ra, &sa, &err), 0, "%s", err.msg);
        cr_assert_eq(apply_run(b, rb, &sb, &err), 0, "%s", err.msg);
        cr_assert_eq(sa.ops, sb.ops);
        cr_assert_eq(sa.skipped, sb.skipped);
        req_free(ra);
        req_free(rb);
        if (batch % 20 == 19)
            index_eq(a, b, NSLOTS);
    }
    index_eq(a, b, NSLOTS);
    cr_assert_gt(index_doc_count(a), 500);
    index_free(a);
    index_free(b);
}
