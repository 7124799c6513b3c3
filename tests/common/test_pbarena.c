/*
 * Tests common/pbarena.c: messages decoded into an arena equal those decoded with malloc
 * (re-packed byte for byte), across resets and chunk growth; copies are independent.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/pbarena.h"

#include "bitdex/v1/writer.pb-c.h"

/* A batch of n Puts with a few fields each, packed. */
static uint8_t *batch(size_t n, size_t *len)
{
    Bitdex__V1__ApplyRequest r = BITDEX__V1__APPLY_REQUEST__INIT;
    Bitdex__V1__Op *ops = calloc(n, sizeof(*ops)), **pops = calloc(n, sizeof(*pops));
    Bitdex__V1__PutOp *puts = calloc(n, sizeof(*puts));
    Bitdex__V1__Document *docs = calloc(n, sizeof(*docs));
    Bitdex__V1__FieldValue fv = BITDEX__V1__FIELD_VALUE__INIT, *pfv = &fv;
    Bitdex__V1__Value v = BITDEX__V1__VALUE__INIT, *pv[3] = {&v, &v, &v};
    uint8_t *buf;

    v.kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
    v.int_value = 12345;
    fv.field = "tagIds";
    fv.n_values = 3;
    fv.values = pv;
    for (size_t i = 0; i < n; i++) {
        bitdex__v1__op__init(&ops[i]);
        bitdex__v1__put_op__init(&puts[i]);
        bitdex__v1__document__init(&docs[i]);
        docs[i].id = (uint32_t)i + 1;
        docs[i].n_filter_fields = 1;
        docs[i].filter_fields = &pfv;
        puts[i].document = &docs[i];
        ops[i].op_case = BITDEX__V1__OP__OP_PUT;
        ops[i].put = &puts[i];
        pops[i] = &ops[i];
    }
    r.index = "images";
    r.n_ops = n;
    r.ops = pops;
    *len = protobuf_c_message_get_packed_size(&r.base);
    buf = malloc(*len);
    protobuf_c_message_pack(&r.base, buf);
    free(ops);
    free(pops);
    free(puts);
    free(docs);
    return buf;
}

static void same_as_malloc(pbarena_t *a, const uint8_t *buf, size_t len)
{
    const ProtobufCMessageDescriptor *d = &bitdex__v1__apply_request__descriptor;
    ProtobufCMessage *m = pbarena_unpack(a, d, len, buf), *copy;
    uint8_t *re = malloc(len + 1);

    cr_assert_not_null(m);
    cr_assert_eq(protobuf_c_message_get_packed_size(m), len);
    protobuf_c_message_pack(m, re);
    cr_assert_eq(memcmp(re, buf, len), 0);
    copy = pbarena_copy(m);
    cr_assert_not_null(copy);
    pbarena_reset(a); /* the copy does not live in the arena */
    memset(re, 0, len);
    protobuf_c_message_pack(copy, re);
    cr_assert_eq(memcmp(re, buf, len), 0);
    protobuf_c_message_free_unpacked(copy, NULL);
    free(re);
}

Test(pbarena, decodes_like_malloc_across_resets)
{
    pbarena_t *a = pbarena_new();
    size_t sizes[] = {1, 1000, 3, 20000, 10, 0};

    cr_assert_not_null(a);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t len;
        uint8_t *buf = batch(sizes[k], &len);
        same_as_malloc(a, buf, len);
        free(buf);
    }
    uint8_t junk[] = {0x12, 0x05, 0x0a};
    cr_assert_null(pbarena_unpack(a, &bitdex__v1__apply_request__descriptor, 3, junk));
    pbarena_free(a);
    pbarena_free(NULL);
}
