/*
 * document_pb: GetDocuments from an index. See document_pb.h.
 */
#include "common/document_pb.h"

#include "common/docvalues.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Which fields a request asked for: schema indexes per kind, in request order. */
typedef struct selection {
    int *filters, *sorts;
    size_t *stored; /* as docstore_decode() takes them */
    size_t nfilters, nsorts, nstored;
} selection_t;

static void selection_free(selection_t *s)
{
    free(s->filters);
    free(s->sorts);
    free(s->stored);
}

static bool has_stored(const size_t *v, size_t n, size_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static bool has(const int *v, size_t n, int x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static int select_fields(const schema_t *schema, const Bitdex__V1__GetDocumentsRequest *req,
                         selection_t *sel, bdx_error_t *err)
{
    size_t nf = req->n_fields ? req->n_fields : schema->filter_count;
    size_t ns = req->n_fields ? req->n_fields : schema->sort_count;
    size_t nd = req->n_fields ? req->n_fields : schema->stored_count;

    memset(sel, 0, sizeof(*sel));
    sel->filters = calloc(nf + 1, sizeof(int));
    sel->sorts = calloc(ns + 1, sizeof(int));
    sel->stored = calloc(nd + 1, sizeof(size_t));
    if (sel->filters == NULL || sel->sorts == NULL || sel->stored == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    if (req->n_fields == 0) {
        for (size_t i = 0; i < schema->filter_count; i++)
            sel->filters[sel->nfilters++] = (int)i;
        for (size_t i = 0; i < schema->sort_count; i++)
            sel->sorts[sel->nsorts++] = (int)i;
        for (size_t i = 0; i < schema->stored_count; i++)
            sel->stored[sel->nstored++] = i;
        return 0;
    }
    for (size_t i = 0; i < req->n_fields; i++) {
        const char *name = req->fields[i];
        int k;

        if (name[0] == '\0')
            return bdx_error_set(err, BDX_EINVAL, "fields[%zu]: empty field name", i);
        if ((k = schema_filter_find(schema, name)) >= 0) {
            if (!has(sel->filters, sel->nfilters, k))
                sel->filters[sel->nfilters++] = k;
        } else if ((k = schema_sort_find(schema, name)) >= 0) {
            if (!has(sel->sorts, sel->nsorts, k))
                sel->sorts[sel->nsorts++] = k;
        } else if ((k = schema_stored_find(schema, name)) >= 0) {
            if (!has_stored(sel->stored, sel->nstored, (size_t)k))
                sel->stored[sel->nstored++] = (size_t)k;
        } else if (strcmp(name, "id") != 0) {
            return bdx_error_set(err, BDX_EINVAL, "fields[%zu]: unknown field \"%s\"", i, name);
        }
    }
    return 0;
}

static Bitdex__V1__Value *value_new(const schema_filter_field_t *f, const dictionary_t *dict,
                                    int64_t key)
{
    Bitdex__V1__Value *v = malloc(sizeof(*v));

    if (v == NULL)
        return NULL;
    bitdex__v1__value__init(v);
    switch (f->type) {
    case SCHEMA_INT:
        v->kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
        v->int_value = key;
        break;
    case SCHEMA_BOOL:
        v->kind_case = BITDEX__V1__VALUE__KIND_BOOL_VALUE;
        v->bool_value = key != 0;
        break;
    default: {
        const char *s = dict ? dictionary_string(dict, key) : NULL;
        v->kind_case = BITDEX__V1__VALUE__KIND_STRING_VALUE;
        /* a key outside the dictionary would be a bug; answer "" rather than crash */
        if ((v->string_value = strdup(s ? s : "")) == NULL) {
            free(v);
            return NULL;
        }
        break;
    }
    }
    return v;
}

/* The FieldValue of filter field `fi` of the decoded record, or *out NULL when it has none. */
static int filter_field(const index_t *ix, const docvalues_rec_t *rec, int fi,
                        Bitdex__V1__FieldValue **out)
{
    const schema_filter_field_t *f = &index_schema(ix)->filter_fields[fi];
    const dictionary_t *dict = index_dict(ix, (size_t)fi);
    size_t n;
    const int64_t *keys = docvalues_rec_keys(rec, (size_t)fi, &n);
    Bitdex__V1__FieldValue *fv;

    *out = NULL;
    if (n == 0)
        return 0; /* null or no value: left out */
    if ((fv = malloc(sizeof(*fv))) == NULL)
        return -ENOMEM;
    bitdex__v1__field_value__init(fv);
    *out = fv;
    if ((fv->field = strdup(f->name)) == NULL)
        return -ENOMEM;
    if (!f->multi) {
        fv->value = value_new(f, dict, keys[0]);
        return fv->value ? 0 : -ENOMEM;
    }
    if ((fv->values = calloc(n, sizeof(*fv->values))) == NULL)
        return -ENOMEM;
    for (size_t k = 0; k < n; k++) {
        if ((fv->values[k] = value_new(f, dict, keys[k])) == NULL)
            return -ENOMEM;
        fv->n_values++;
    }
    return 0;
}

static int sort_field(const index_t *ix, uint32_t slot, int si, Bitdex__V1__SortFieldValue **out)
{
    const bsi_t *bsi = index_sort_bsi(ix, (size_t)si);
    Bitdex__V1__SortFieldValue *sv;

    *out = NULL;
    if (!roaring_bitmap_contains(bsi_exists(bsi), slot))
        return 0;
    if ((sv = malloc(sizeof(*sv))) == NULL)
        return -ENOMEM;
    bitdex__v1__sort_field_value__init(sv);
    *out = sv;
    sv->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE;
    sv->value = index_sort_value(ix, (size_t)si, slot);
    sv->field = strdup(index_schema(ix)->sort_fields[si].name);
    return sv->field ? 0 : -ENOMEM;
}

/* Document.stored_fields: the selected stored fields its blob holds. 0, -ENOMEM or
 * BDX_ECORRUPT (message set, naming the id). */
static int stored_fields(const index_t *ix, const selection_t *sel, Bitdex__V1__Document *doc,
                         bdx_error_t *err)
{
    size_t len;
    const uint8_t *blob = index_stored(ix, doc->id, &len);
    bdx_error_t e = {0};
    int rc;

    if (blob == NULL)
        return 0;
    rc = docstore_decode(index_schema(ix), blob, len, sel->stored, sel->nstored,
                         &doc->stored_fields, &doc->n_stored_fields, &e);
    if (rc == 0 || rc == -ENOMEM)
        return rc;
    /* the selection holds valid indexes, so any other error is the blob's */
    return bdx_error_set(err, BDX_ECORRUPT, "id %u: %s", doc->id, bdx_error_message(&e));
}

/* Fills doc (initialized, id set) with the selected fields it has. 0, -ENOMEM or BDX_ECORRUPT
 * (with its message in err). */
static int fill_document(const index_t *ix, const selection_t *sel, docvalues_rec_t *rec,
                         Bitdex__V1__Document *doc, bdx_error_t *err)
{
    int rc;

    if (sel->nfilters > 0) {
        if ((rc = index_doc_filters(ix, doc->id, rec)) != 0)
            return rc;
        if ((doc->filter_fields = calloc(sel->nfilters, sizeof(*doc->filter_fields))) == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < sel->nfilters; i++) {
            Bitdex__V1__FieldValue *fv;
            rc = filter_field(ix, rec, sel->filters[i], &fv);
            if (fv != NULL)
                doc->filter_fields[doc->n_filter_fields++] = fv;
            if (rc != 0)
                return rc;
        }
    }
    if (sel->nsorts > 0) {
        if ((doc->sort_fields = calloc(sel->nsorts, sizeof(*doc->sort_fields))) == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < sel->nsorts; i++) {
            Bitdex__V1__SortFieldValue *sv;
            rc = sort_field(ix, doc->id, sel->sorts[i], &sv);
            if (sv != NULL)
                doc->sort_fields[doc->n_sort_fields++] = sv;
            if (rc != 0)
                return rc;
        }
    }
    if (sel->nstored > 0)
        return stored_fields(ix, sel, doc, err);
    return 0;
}

int document_pb_get(const index_t *ix, const limits_t *limits,
                    const Bitdex__V1__GetDocumentsRequest *req, uint64_t lsn,
                    Bitdex__V1__GetDocumentsResponse **out, bdx_error_t *err)
{
    const schema_t *schema = index_schema(ix);
    Bitdex__V1__GetDocumentsResponse *resp = NULL;
    roaring_bitmap_t *seen = NULL;
    docvalues_rec_t rec = {0};
    selection_t sel = {0};
    int rc;

    *out = NULL;
    if (req->n_ids == 0)
        return bdx_error_set(err, BDX_EINVAL, "ids: required (1 to max_get_documents %u ids)",
                             limits->max_get_documents);
    if (req->n_ids > limits->max_get_documents)
        return bdx_error_set(err, BDX_ELIMIT, "ids: %zu ids exceed max_get_documents %u",
                             req->n_ids, limits->max_get_documents);
    if ((rc = select_fields(schema, req, &sel, err)) != 0)
        goto out;
    rc = -ENOMEM;
    if ((resp = malloc(sizeof(*resp))) == NULL)
        goto out;
    bitdex__v1__get_documents_response__init(resp);
    resp->snapshot_lsn = lsn;
    if ((seen = roaring_bitmap_create()) == NULL ||
        docvalues_rec_init(&rec, schema->filter_count) != 0 ||
        (resp->documents = calloc(req->n_ids, sizeof(*resp->documents))) == NULL ||
        (resp->missing_ids = calloc(req->n_ids, sizeof(*resp->missing_ids))) == NULL)
        goto out;
    for (size_t i = 0; i < req->n_ids; i++) {
        uint32_t id = req->ids[i];
        Bitdex__V1__Document *doc;

        if (!roaring_bitmap_add_checked(seen, id))
            continue; /* repeated: answered at its first place */
        if (!index_doc_exists(ix, id)) {
            resp->missing_ids[resp->n_missing_ids++] = id;
            continue;
        }
        if ((doc = malloc(sizeof(*doc))) == NULL)
            goto out;
        bitdex__v1__document__init(doc);
        doc->id = id;
        resp->documents[resp->n_documents++] = doc;
        if ((rc = fill_document(ix, &sel, &rec, doc, err)) != 0)
            goto out;
        rc = -ENOMEM;
    }
    *out = resp;
    resp = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM)
        bdx_error_set(err, rc, "out of memory");
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (seen != NULL) /* CRoaring 0.2 does not accept NULL */
        roaring_bitmap_free(seen);
    docvalues_rec_free(&rec);
    selection_free(&sel);
    return rc;
}
