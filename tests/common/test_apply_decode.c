/*
 * Tests common/apply_decode.c against protobuf-c: on thousands of random write batches packed by
 * protobuf-c (every op kind, every value kind, null markers, empty lists, large ids, long
 * strings, stored fields) the decoder accepts the bytes, agrees with pbcanon_check(), and builds
 * exactly the structs protobuf_c_message_unpack() builds (compared field by field through the
 * descriptors); on random mutations and truncations of those bytes, whenever it does not fall
 * back, protobuf-c decodes them too, to the same structs, and re-packs them to the same bytes.
 * Run it under -DBITDEX_SANITIZE=address,undefined for the truncations. BITDEX_TEST_SEED
 * reproduces a run.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/apply_decode.h"
#include "common/pbarena.h"
#include "common/pbcanon.h"

#define D (&bitdex__v1__apply_request__descriptor)

static uint64_t rng;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void seed_init(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    rng = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    cr_log_info("seed %llu", (unsigned long long)rng);
}

/* ---- random batches, built in an arena (freed at once) ---- */

static pbarena_t *gen;

static void *galloc(size_t n)
{
    ProtobufCAllocator *al = pbarena_allocator(gen, 0);
    void *p = al->alloc(al->allocator_data, n);
    cr_assert_not_null(p);
    memset(p, 0, n);
    return p;
}

static char *rstr(bool may_be_empty)
{
    static const char *pool[] = {"a", "nsfwLevel", "tagIds", "x\xc3\xa9", "SDXL 1.0", "\x7f\xff"};
    size_t n;
    char *s;

    switch (rnd() % 8) {
    case 0:
        if (may_be_empty)
            return (char *)protobuf_c_empty_string;
        /* fallthrough */
    case 1: /* long: a two- or three-byte length prefix */
        n = rnd() % 2 ? 128 + rnd() % 300 : 16384 + rnd() % 100;
        s = galloc(n + 1);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(1 + rnd() % 255);
        return s;
    default: {
        const char *from = pool[rnd() % 6];
        n = strlen(from);
        s = galloc(n + 1);
        memcpy(s, from, n);
        return s;
    }
    }
}

static int64_t rint64(void)
{
    switch (rnd() % 5) {
    case 0:
        return 0;
    case 1:
        return -(int64_t)(rnd() % 1000);
    case 2:
        return INT64_MIN + (int64_t)(rnd() % 2);
    default:
        return (int64_t)(rnd() >> (rnd() % 64));
    }
}

static Bitdex__V1__Null *rnull(void)
{
    Bitdex__V1__Null *n = galloc(sizeof(*n));
    bitdex__v1__null__init(n);
    return n;
}

static Bitdex__V1__Value *rvalue(void)
{
    Bitdex__V1__Value *v = galloc(sizeof(*v));
    bitdex__v1__value__init(v);
    switch (rnd() % 5) {
    case 0:
        v->kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
        v->int_value = rint64();
        break;
    case 1:
        v->kind_case = BITDEX__V1__VALUE__KIND_BOOL_VALUE;
        v->bool_value = rnd() % 2;
        break;
    case 2:
        v->kind_case = BITDEX__V1__VALUE__KIND_STRING_VALUE;
        v->string_value = rstr(true);
        break;
    case 3:
        v->kind_case = BITDEX__V1__VALUE__KIND_NULL_VALUE;
        v->null_value = rnull();
        break;
    default:
        break; /* no kind */
    }
    return v;
}

static void **rlist(size_t *n, size_t max, void *(*fn)(void))
{
    void **arr;

    *n = rnd() % (max + 1);
    if (*n == 0)
        return NULL;
    arr = galloc(*n * sizeof(*arr));
    for (size_t i = 0; i < *n; i++)
        arr[i] = fn();
    return arr;
}

static void *rvalue_any(void)
{
    return rvalue();
}

static Bitdex__V1__FieldValue *rfield(void)
{
    Bitdex__V1__FieldValue *f = galloc(sizeof(*f));
    bitdex__v1__field_value__init(f);
    f->field = rstr(rnd() % 8 == 0);
    if (rnd() % 2)
        f->value = rvalue();
    f->values = (Bitdex__V1__Value **)rlist(&f->n_values, rnd() % 4 ? 4 : 40, rvalue_any);
    return f;
}

static Bitdex__V1__SortFieldValue *rsort(void)
{
    Bitdex__V1__SortFieldValue *s = galloc(sizeof(*s));
    bitdex__v1__sort_field_value__init(s);
    s->field = rstr(rnd() % 8 == 0);
    if (rnd() % 3 == 0) {
        s->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_NULL_VALUE;
        s->null_value = rnull();
    } else if (rnd() % 4) {
        s->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE;
        s->value = rnd() % 4 == 0 ? 0 : rnd() >> (rnd() % 64);
    }
    return s;
}

static Bitdex__V1__StoredFieldValue *rstored(void)
{
    Bitdex__V1__StoredFieldValue *s = galloc(sizeof(*s));
    Bitdex__V1__StoredValue *v;
    uint64_t bits;

    bitdex__v1__stored_field_value__init(s);
    s->field = rstr(rnd() % 8 == 0);
    if (rnd() % 6 == 0)
        return s;
    s->value = v = galloc(sizeof(*v));
    bitdex__v1__stored_value__init(v);
    switch (rnd() % 7) {
    case 0:
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE;
        v->int_value = rint64();
        break;
    case 1:
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE;
        v->bool_value = rnd() % 2;
        break;
    case 2:
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE;
        v->string_value = rstr(true);
        break;
    case 3:
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_BYTES_VALUE;
        v->bytes_value.len = rnd() % 3 == 0 ? 0 : rnd() % 300;
        v->bytes_value.data = v->bytes_value.len ? galloc(v->bytes_value.len) : NULL;
        for (size_t i = 0; i < v->bytes_value.len; i++)
            v->bytes_value.data[i] = (uint8_t)rnd(); /* NULs included: bytes, not a string */
        break;
    case 4:
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_DOUBLE_VALUE;
        bits = rnd() % 3 == 0 ? 0 : rnd();
        memcpy(&v->double_value, &bits, 8);
        break;
    case 5:
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE;
        v->null_value = rnull();
        break;
    default:
        break; /* no kind */
    }
    return s;
}

static void *rfield_any(void)
{
    return rfield();
}
static void *rsort_any(void)
{
    return rsort();
}
static void *rstored_any(void)
{
    return rstored();
}

static uint32_t rid(void)
{
    switch (rnd() % 5) {
    case 0:
        return 0;
    case 1:
        return UINT32_MAX - (uint32_t)(rnd() % 2);
    default:
        return (uint32_t)(rnd() >> (32 + rnd() % 32));
    }
}

static Bitdex__V1__Document *rdoc(void)
{
    Bitdex__V1__Document *d = galloc(sizeof(*d));
    bitdex__v1__document__init(d);
    d->id = rid();
    d->filter_fields = (Bitdex__V1__FieldValue **)rlist(&d->n_filter_fields, 6, rfield_any);
    d->sort_fields = (Bitdex__V1__SortFieldValue **)rlist(&d->n_sort_fields, 4, rsort_any);
    d->stored_fields = (Bitdex__V1__StoredFieldValue **)rlist(&d->n_stored_fields, 4, rstored_any);
    return d;
}

static Bitdex__V1__MultiValueOp *rmulti(void)
{
    Bitdex__V1__MultiValueOp *m = galloc(sizeof(*m));
    bitdex__v1__multi_value_op__init(m);
    m->id = rid();
    m->field = rstr(rnd() % 8 == 0);
    m->values = (Bitdex__V1__Value **)rlist(&m->n_values, 5, rvalue_any);
    return m;
}

static void *rop(void)
{
    Bitdex__V1__Op *op = galloc(sizeof(*op));
    bitdex__v1__op__init(op);
    switch (rnd() % 7) {
    case 0:
        op->op_case = BITDEX__V1__OP__OP_PUT;
        op->put = galloc(sizeof(*op->put));
        bitdex__v1__put_op__init(op->put);
        if (rnd() % 8)
            op->put->document = rdoc();
        break;
    case 1:
        op->op_case = BITDEX__V1__OP__OP_MERGE;
        op->merge = galloc(sizeof(*op->merge));
        bitdex__v1__merge_op__init(op->merge);
        if (rnd() % 8)
            op->merge->document = rdoc();
        break;
    case 2:
        op->op_case = BITDEX__V1__OP__OP_DELETE;
        op->delete_ = galloc(sizeof(*op->delete_));
        bitdex__v1__delete_op__init(op->delete_);
        op->delete_->id = rid();
        break;
    case 3:
        op->op_case = BITDEX__V1__OP__OP_SET;
        op->set = galloc(sizeof(*op->set));
        bitdex__v1__set_op__init(op->set);
        op->set->id = rid();
        switch (rnd() % 4) {
        case 0:
            op->set->field_case = BITDEX__V1__SET_OP__FIELD_FILTER;
            op->set->filter = rfield();
            break;
        case 1:
            op->set->field_case = BITDEX__V1__SET_OP__FIELD_SORT;
            op->set->sort = rsort();
            break;
        case 2:
            op->set->field_case = BITDEX__V1__SET_OP__FIELD_STORED;
            op->set->stored = rstored();
            break;
        default:
            break; /* no field */
        }
        break;
    case 4:
        op->op_case = BITDEX__V1__OP__OP_ADD;
        op->add = rmulti();
        break;
    case 5:
        op->op_case = BITDEX__V1__OP__OP_REMOVE;
        op->remove = rmulti();
        break;
    default:
        break; /* no op */
    }
    return op;
}

static Bitdex__V1__ApplyRequest *rrequest(void)
{
    Bitdex__V1__ApplyRequest *r = galloc(sizeof(*r));
    bitdex__v1__apply_request__init(r);
    r->index = rstr(rnd() % 8 == 0);
    r->ops = (Bitdex__V1__Op **)rlist(&r->n_ops, rnd() % 10 ? 12 : 200, rop);
    if (rnd() % 2)
        r->batch_id = rstr(true);
    return r;
}

/* Packs a random request into a malloc'ed buffer (caller frees). */
static uint8_t *rpacked(size_t *len)
{
    Bitdex__V1__ApplyRequest *r = rrequest();
    uint8_t *buf;

    *len = protobuf_c_message_get_packed_size(&r->base);
    buf = malloc(*len ? *len : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(protobuf_c_message_pack(&r->base, buf), *len);
    pbarena_reset(gen);
    return buf;
}

/* ---- deep comparison through the descriptors ---- */

static void same_message(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path);

static size_t elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static void same_value(const ProtobufCFieldDescriptor *f, const char *pa, const char *pb,
                       const char *path)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
        cr_assert_eq(sa == NULL, sb == NULL, "%s.%s: NULL", path, f->name);
        if (sa == NULL)
            return;
        cr_assert_eq(sa == protobuf_c_empty_string, sb == protobuf_c_empty_string,
                     "%s.%s: default string", path, f->name);
        cr_assert_str_eq(sa, sb, "%s.%s", path, f->name);
        return;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *ba = (const void *)pa, *bb = (const void *)pb;
        cr_assert_eq(ba->len, bb->len, "%s.%s: length", path, f->name);
        cr_assert_eq(ba->data == NULL, bb->data == NULL, "%s.%s: NULL", path, f->name);
        if (ba->len > 0)
            cr_assert_eq(memcmp(ba->data, bb->data, ba->len), 0, "%s.%s", path, f->name);
        return;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *ma = *(ProtobufCMessage *const *)pa;
        const ProtobufCMessage *mb = *(ProtobufCMessage *const *)pb;
        char sub[512];
        cr_assert_eq(ma == NULL, mb == NULL, "%s.%s: NULL", path, f->name);
        if (ma == NULL)
            return;
        cr_assert_eq(ma->descriptor, f->descriptor, "%s.%s: descriptor", path, f->name);
        snprintf(sub, sizeof(sub), "%s.%s", path, f->name);
        same_message(ma, mb, sub);
        return;
    }
    default:
        cr_assert_eq(memcmp(pa, pb, elt_size(f->type)), 0, "%s.%s", path, f->name);
        return;
    }
}

static void same_message(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path)
{
    const ProtobufCMessageDescriptor *desc = a->descriptor;

    cr_assert_eq(a->descriptor, b->descriptor, "%s: descriptor", path);
    cr_assert_eq(a->n_unknown_fields, b->n_unknown_fields, "%s: unknown fields", path);
    cr_assert_eq(a->unknown_fields == NULL, b->unknown_fields == NULL, "%s", path);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;

        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t qa = *(const uint32_t *)((const char *)a + f->quantifier_offset);
            uint32_t qb = *(const uint32_t *)((const char *)b + f->quantifier_offset);
            cr_assert_eq(qa, qb, "%s.%s: oneof case", path, f->name);
            if (qa != f->id)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
                   f->quantifier_offset != 0) { /* has_ flag */
            cr_assert_eq(*(const protobuf_c_boolean *)((const char *)a + f->quantifier_offset),
                         *(const protobuf_c_boolean *)((const char *)b + f->quantifier_offset),
                         "%s.has_%s", path, f->name);
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t na = *(const size_t *)((const char *)a + f->quantifier_offset);
            size_t nb = *(const size_t *)((const char *)b + f->quantifier_offset);
            const char *arra = *(char *const *)pa, *arrb = *(char *const *)pb;
            size_t sz = elt_size(f->type);
            char sub[512];

            cr_assert_eq(na, nb, "%s.n_%s", path, f->name);
            cr_assert_eq(arra == NULL, arrb == NULL, "%s.%s: NULL array", path, f->name);
            for (size_t k = 0; k < na; k++) {
                snprintf(sub, sizeof(sub), "%s[%zu]", path, k);
                same_value(f, arra + k * sz, arrb + k * sz, sub);
            }
        } else {
            same_value(f, pa, pb, path);
        }
    }
}

/* ---- the checks ---- */

static pbarena_t *mine, *theirs;

static void setup(void)
{
    seed_init();
    gen = pbarena_new();
    mine = pbarena_new();
    theirs = pbarena_new();
    cr_assert(gen && mine && theirs);
}

static void teardown(void)
{
    pbarena_free(gen);
    pbarena_free(mine);
    pbarena_free(theirs);
}

TestSuite(apply_decode, .init = setup, .fini = teardown);

/* Decodes `data` both ways; when the decoder does not fall back, protobuf-c must agree on
 * everything. Returns whether the decoder accepted the bytes. */
static bool differential(const uint8_t *data, size_t len)
{
    Bitdex__V1__ApplyRequest *req = NULL;
    ProtobufCMessage *ref;
    bool ok = apply_decode(pbarena_allocator(mine, len), data, len, &req);

    if (ok) {
        cr_assert_not_null(req);
        ref = pbarena_unpack(theirs, D, len, data);
        cr_assert_not_null(ref, "decoder accepted bytes protobuf-c refuses");
        cr_assert(pbcanon_check(D, data, len), "decoder accepted non-canonical bytes");
        same_message(&req->base, ref, "req");
        cr_assert_eq(protobuf_c_message_get_packed_size(&req->base), len);
        uint8_t *again = malloc(len ? len : 1);
        cr_assert_not_null(again);
        protobuf_c_message_pack(&req->base, again);
        cr_assert_eq(memcmp(again, data, len), 0, "accepted bytes do not re-pack to themselves");
        free(again);
    } else {
        cr_assert_null(req);
    }
    pbarena_reset(mine);
    pbarena_reset(theirs);
    return ok;
}

Test(apply_decode, packed_batches_decode_as_protobuf_c_does)
{
    for (int i = 0; i < 3000; i++) {
        size_t len;
        uint8_t *buf = rpacked(&len);

        cr_assert(pbcanon_check(D, buf, len), "request %d", i);
        cr_assert(differential(buf, len), "request %d: fell back on protobuf-c's packing", i);
        free(buf);
    }
}

Test(apply_decode, empty_and_hand_made)
{
    static const struct {
        const char *bytes;
        size_t len;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"\x0a\x01x", 3, true},                     /* index "x" */
        {"\x0a\x00", 2, false},                     /* empty index written out */
        {"\x0a\x02x\x00", 4, false},                /* NUL inside a string */
        {"\x1a\x01y\x0a\x01x", 6, false},           /* out of order */
        {"\x0a\x01x\x0a\x01x", 6, false},           /* a field twice */
        {"\x12\x00", 2, true},                      /* one empty Op */
        {"\x12\x00\x0a\x01x\x12\x00", 7, false},    /* a repeated field split */
        {"\x12\x04\x1a\x02\x08\x00", 6, false},     /* Delete id 0 written out */
        {"\x12\x04\x1a\x02\x08\x05", 6, true},      /* Delete id 5 */
        {"\x12\x05\x1a\x03\x08\x85\x00", 7, false}, /* padded varint */
        {"\x12\x04\x1a\x02\x10\x05", 6, false},     /* unknown field of DeleteOp */
        {"\x12\x04\x1a\x02\x0d\x05", 6, false},     /* wrong wire type */
        {"\x12\x04\x1a\x00\x22\x00", 6, false},     /* two members of Op's oneof */
        {"\x12\x02\x1a\x00", 4, true},              /* empty Delete */
        {"\x12\x04\x0a\x02\x0a\x00", 6, true},      /* Put of an empty document */
        {"\x12\x03\x1a\x00", 4, false},             /* truncated */
        {"\x22\x00", 2, false},                     /* unknown field 4 */
        {"\x92\x00\x00", 3, false},                 /* padded tag */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const uint8_t *b = (const uint8_t *)cases[i].bytes;
        cr_assert_eq(differential(b, cases[i].len), cases[i].ok, "case %zu", i);
        if (!cases[i].ok) /* falling back must be safe: protobuf-c's verdict stands */
            continue;
        cr_assert(pbcanon_check(D, b, cases[i].len), "case %zu", i);
    }
}

static size_t mutate(uint8_t *b, size_t len, size_t cap)
{
    int k = 1 + (int)(rnd() % 3);

    while (k-- > 0 && len > 0) {
        size_t at = rnd() % len;
        switch (rnd() % 6) {
        case 0:
            b[at] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 1:
            b[at] = (uint8_t)rnd();
            break;
        case 2: /* small values: lengths, tags, zero */
            b[at] = (uint8_t)(rnd() % 0x20);
            break;
        case 3: /* insert a byte */
            if (len < cap) {
                memmove(b + at + 1, b + at, len - at);
                b[at] = (uint8_t)(rnd() % 2 ? rnd() : 0x80);
                len++;
            }
            break;
        case 4: /* delete a byte */
            memmove(b + at, b + at + 1, len - at - 1);
            len--;
            break;
        default:
            b[at] = b[at] + 1;
            break;
        }
    }
    return len;
}

Test(apply_decode, mutations_decode_as_protobuf_c_does_or_fall_back)
{
    size_t accepted = 0, total = 0;

    for (int i = 0; i < 1500; i++) {
        size_t len;
        uint8_t *buf = rpacked(&len);
        size_t cap = len + 8;
        uint8_t *b = malloc(cap);

        cr_assert_not_null(b);
        for (int j = 0; j < 20; j++) {
            memcpy(b, buf, len);
            size_t n = mutate(b, len, cap);
            uint8_t *exact = malloc(n ? n : 1); /* ASan sees reads past the end */
            cr_assert_not_null(exact);
            memcpy(exact, b, n);
            accepted += differential(exact, n);
            total++;
            free(exact);
        }
        free(b);
        free(buf);
    }
    cr_log_info("mutations accepted: %zu of %zu", accepted, total);
}

Test(apply_decode, truncations_never_crash)
{
    for (int i = 0; i < 200; i++) {
        size_t len;
        uint8_t *buf = rpacked(&len);
        size_t step = len > 4000 ? len / 2000 : 1;

        for (size_t n = 0; n < len; n += step) {
            uint8_t *exact = malloc(n ? n : 1);
            cr_assert_not_null(exact);
            memcpy(exact, buf, n);
            differential(exact, n);
            free(exact);
        }
        free(buf);
    }
}
