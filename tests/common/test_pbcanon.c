/*
 * Tests common/pbcanon.c: whatever protobuf-c packs is accepted; each non-canonical form is
 * refused; and the property the writer relies on: bytes it accepts re-pack to themselves,
 * checked on many random mutations of random write batches (BITDEX_TEST_SEED reproduces a run).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/pbcanon.h"

#include "bitdex/v1/writer.pb-c.h"

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

static void *zalloc(size_t n)
{
    void *p = calloc(1, n);
    cr_assert_not_null(p);
    return p;
}

static char *rstr(void)
{
    static const char *pool[] = {"", "a", "nsfwLevel", "tagIds", "x\xc3\xa9", "SDXL 1.0"};
    return strdup(pool[rnd() % 6]);
}

static Bitdex__V1__Null *rnull(void)
{
    Bitdex__V1__Null *n = zalloc(sizeof(*n));
    bitdex__v1__null__init(n);
    return n;
}

static Bitdex__V1__Value *rvalue(void)
{
    Bitdex__V1__Value *v = zalloc(sizeof(*v));
    bitdex__v1__value__init(v);
    switch (rnd() % 5) {
    case 0:
        v->kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
        v->int_value = rnd() % 3 == 0 ? 0 : (int64_t)rnd() >> (rnd() % 64);
        break;
    case 1:
        v->kind_case = BITDEX__V1__VALUE__KIND_BOOL_VALUE;
        v->bool_value = rnd() % 2;
        break;
    case 2:
        v->kind_case = BITDEX__V1__VALUE__KIND_STRING_VALUE;
        v->string_value = rstr();
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

static Bitdex__V1__FieldValue *rfield(void)
{
    Bitdex__V1__FieldValue *f = zalloc(sizeof(*f));
    bitdex__v1__field_value__init(f);
    f->field = rstr();
    if (rnd() % 2)
        f->value = rvalue();
    f->n_values = rnd() % 4;
    f->values = f->n_values ? zalloc(f->n_values * sizeof(*f->values)) : NULL;
    for (size_t i = 0; i < f->n_values; i++)
        f->values[i] = rvalue();
    return f;
}

static Bitdex__V1__SortFieldValue *rsort(void)
{
    Bitdex__V1__SortFieldValue *s = zalloc(sizeof(*s));
    bitdex__v1__sort_field_value__init(s);
    s->field = rstr();
    if (rnd() % 3 == 0) {
        s->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_NULL_VALUE;
        s->null_value = rnull();
    } else if (rnd() % 2) {
        s->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE;
        s->value = rnd() >> (rnd() % 64);
    }
    return s;
}

static Bitdex__V1__StoredFieldValue *rstored(void)
{
    Bitdex__V1__StoredFieldValue *s = zalloc(sizeof(*s));
    bitdex__v1__stored_field_value__init(s);
    s->field = rstr();
    if (rnd() % 5 == 0)
        return s;
    s->value = zalloc(sizeof(*s->value));
    bitdex__v1__stored_value__init(s->value);
    switch (rnd() % 6) {
    case 0:
        s->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE;
        s->value->int_value = -(int64_t)(rnd() % 1000);
        break;
    case 1:
        s->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE;
        s->value->bool_value = rnd() % 2;
        break;
    case 2:
        s->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE;
        s->value->string_value = rstr();
        break;
    case 3:
        s->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_BYTES_VALUE;
        s->value->bytes_value.len = rnd() % 4;
        s->value->bytes_value.data = zalloc(4);
        break;
    case 4:
        s->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_DOUBLE_VALUE;
        s->value->double_value = rnd() % 2 ? 0.0 : -1.5;
        break;
    default:
        s->value->kind_case = BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE;
        s->value->null_value = rnull();
        break;
    }
    return s;
}

static Bitdex__V1__Document *rdoc(void)
{
    Bitdex__V1__Document *d = zalloc(sizeof(*d));
    bitdex__v1__document__init(d);
    d->id = rnd() % 4 == 0 ? 0 : (uint32_t)rnd();
    d->n_filter_fields = rnd() % 4;
    d->filter_fields = d->n_filter_fields ? zalloc(d->n_filter_fields * sizeof(void *)) : NULL;
    for (size_t i = 0; i < d->n_filter_fields; i++)
        d->filter_fields[i] = rfield();
    d->n_sort_fields = rnd() % 3;
    d->sort_fields = d->n_sort_fields ? zalloc(d->n_sort_fields * sizeof(void *)) : NULL;
    for (size_t i = 0; i < d->n_sort_fields; i++)
        d->sort_fields[i] = rsort();
    d->n_stored_fields = rnd() % 3;
    d->stored_fields = d->n_stored_fields ? zalloc(d->n_stored_fields * sizeof(void *)) : NULL;
    for (size_t i = 0; i < d->n_stored_fields; i++)
        d->stored_fields[i] = rstored();
    return d;
}

static Bitdex__V1__Op *rop(void)
{
    Bitdex__V1__Op *op = zalloc(sizeof(*op));
    bitdex__v1__op__init(op);
    switch (rnd() % 7) {
    case 0:
        op->op_case = BITDEX__V1__OP__OP_PUT;
        op->put = zalloc(sizeof(*op->put));
        bitdex__v1__put_op__init(op->put);
        if (rnd() % 8)
            op->put->document = rdoc();
        break;
    case 1:
        op->op_case = BITDEX__V1__OP__OP_MERGE;
        op->merge = zalloc(sizeof(*op->merge));
        bitdex__v1__merge_op__init(op->merge);
        op->merge->document = rdoc();
        break;
    case 2:
        op->op_case = BITDEX__V1__OP__OP_DELETE;
        op->delete_ = zalloc(sizeof(*op->delete_));
        bitdex__v1__delete_op__init(op->delete_);
        op->delete_->id = rnd() % 2 ? 0 : (uint32_t)rnd();
        break;
    case 3:
        op->op_case = BITDEX__V1__OP__OP_SET;
        op->set = zalloc(sizeof(*op->set));
        bitdex__v1__set_op__init(op->set);
        op->set->id = (uint32_t)rnd();
        if (rnd() % 3 == 0) {
            op->set->field_case = BITDEX__V1__SET_OP__FIELD_FILTER;
            op->set->filter = rfield();
        } else if (rnd() % 2) {
            op->set->field_case = BITDEX__V1__SET_OP__FIELD_SORT;
            op->set->sort = rsort();
        } else {
            op->set->field_case = BITDEX__V1__SET_OP__FIELD_STORED;
            op->set->stored = rstored();
        }
        break;
    case 4:
    case 5: {
        Bitdex__V1__MultiValueOp *m = zalloc(sizeof(*m));
        bitdex__v1__multi_value_op__init(m);
        m->id = (uint32_t)rnd();
        m->field = rstr();
        m->n_values = rnd() % 3;
        m->values = m->n_values ? zalloc(m->n_values * sizeof(void *)) : NULL;
        for (size_t i = 0; i < m->n_values; i++)
            m->values[i] = rvalue();
        op->op_case = rnd() % 2 ? BITDEX__V1__OP__OP_ADD : BITDEX__V1__OP__OP_REMOVE;
        if (op->op_case == BITDEX__V1__OP__OP_ADD)
            op->add = m;
        else
            op->remove = m;
        break;
    }
    default:
        break; /* no op set */
    }
    return op;
}

static Bitdex__V1__ApplyRequest *rrequest(void)
{
    Bitdex__V1__ApplyRequest *r = zalloc(sizeof(*r));
    bitdex__v1__apply_request__init(r);
    r->index = rstr();
    r->batch_id = rstr();
    r->n_ops = rnd() % 6;
    r->ops = r->n_ops ? zalloc(r->n_ops * sizeof(void *)) : NULL;
    for (size_t i = 0; i < r->n_ops; i++)
        r->ops[i] = rop();
    return r;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static const ProtobufCMessageDescriptor *D = &bitdex__v1__apply_request__descriptor;

Test(pbcanon, accepts_what_protobuf_c_packs)
{
    seed_init();
    for (int i = 0; i < 2000; i++) {
        Bitdex__V1__ApplyRequest *r = rrequest();
        size_t len;
        uint8_t *buf = pack(&r->base, &len);
        cr_assert(pbcanon_check(D, buf, len), "request %d", i);
        free(buf);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
}

/* Bytes of one message built by hand: `hex` pairs. */
static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned b;
        cr_assert_eq(sscanf(hex, "%2x", &b), 1);
        out[n++] = (uint8_t)b;
    }
    return n;
}

static bool check_hex(const char *hex)
{
    uint8_t buf[256];
    size_t n = unhex(hex, buf);
    return pbcanon_check(D, buf, n);
}

Test(pbcanon, refuses_non_canonical_forms)
{
    /* ApplyRequest{index "i"(1), ops[0] = Op{delete(3) DeleteOp{id 5}}(2), batch_id "b"(3)} */
    cr_assert(check_hex("0a0169"
                        "12041a020805"
                        "1a0162"));
    cr_assert(check_hex(""), "the empty message");
    cr_assert(!check_hex("1a0162"
                         "0a0169"),
              "out of order");
    cr_assert(!check_hex("0a0169"
                         "0a0169"),
              "a singular field twice");
    cr_assert(!check_hex("0a0169"
                         "1a0162"
                         "12041a020805"),
              "repeated field after a later one");
    cr_assert(!check_hex("0a0169"
                         "12041a020805"
                         "1a0162"
                         "2001"),
              "unknown field");
    cr_assert(!check_hex("0a00"), "an empty proto3 string is left out by protobuf-c");
    cr_assert(!check_hex("0a0169"
                         "12051a03088500"),
              "padded varint");
    cr_assert(!check_hex("0a0169"
                         "12041a020800"),
              "a zero uint32 is left out");
    cr_assert(!check_hex("0a0169"
                         "1206"
                         "1a020805"
                         "1a00"),
              "two members of one oneof");
    cr_assert(!check_hex("0a026900"), "NUL inside a string");
    cr_assert(!check_hex("0a0169"
                         "1207"
                         "1a05088080808010"),
              "uint32 out of range");
    cr_assert(!check_hex("0a0169"
                         "12041a030805"),
              "length past the end");
    cr_assert(!check_hex("0a81016900"), "padded length... and past the end");
    cr_assert(!check_hex("08"), "wrong wire type for a string");
    cr_assert(check_hex("12021a00"), "an empty sub-message (DeleteOp with id 0)");
}

/* The property the writer relies on: accepted bytes re-pack to themselves. */
Test(pbcanon, accepted_mutations_repack_identically)
{
    size_t accepted = 0, decoded = 0;

    seed_init();
    for (int i = 0; i < 3000; i++) {
        Bitdex__V1__ApplyRequest *r = rrequest();
        size_t len;
        uint8_t *orig = pack(&r->base, &len);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        for (int k = 0; k < 20; k++) {
            size_t cap = len * 2 + 16, n = len;
            uint8_t *b = malloc(cap);
            memcpy(b, orig, len);
            for (int m = 1 + (int)(rnd() % 3); m > 0; m--) {
                size_t at = n ? rnd() % n : 0;
                switch (rnd() % 5) {
                case 0: /* flip bits */
                    if (n)
                        b[at] ^= (uint8_t)(1u << (rnd() % 8));
                    break;
                case 1: /* set a byte */
                    if (n)
                        b[at] = (uint8_t)rnd();
                    break;
                case 2: /* delete a byte */
                    if (n) {
                        memmove(b + at, b + at + 1, n - at - 1);
                        n--;
                    }
                    break;
                case 3: /* insert a byte */
                    if (n + 1 < cap) {
                        memmove(b + at + 1, b + at, n - at);
                        b[at] = (uint8_t)(rnd() % 4 ? rnd() % 0x80 : rnd());
                        n++;
                    }
                    break;
                default: /* repeat a range */
                    if (n) {
                        size_t l = 1 + rnd() % (n - at < 8 ? n - at : 8);
                        if (n + l <= cap) {
                            memmove(b + at + l, b + at, n - at);
                            n += l;
                        }
                    }
                    break;
                }
            }
            ProtobufCMessage *m = protobuf_c_message_unpack(D, NULL, n, b);
            bool ok = pbcanon_check(D, b, n);
            if (m != NULL) {
                decoded++;
                if (ok) {
                    size_t rl;
                    uint8_t *re = pack(m, &rl);
                    accepted++;
                    cr_assert(rl == n && memcmp(re, b, n) == 0,
                              "accepted bytes re-pack differently (request %d mutation %d)", i, k);
                    free(re);
                }
                protobuf_c_message_free_unpacked(m, NULL);
            } else {
                cr_assert(!ok, "accepted bytes protobuf-c cannot decode (request %d)", i);
            }
            free(b);
        }
        free(orig);
    }
    cr_log_info("decoded %zu, accepted %zu", decoded, accepted);
    cr_assert_gt(accepted, 1000, "the mutations must exercise acceptance");
}
