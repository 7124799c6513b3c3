/* apply_print: ApplyRequest ops as one line each, for people reading a WAL. */
#include "services/tools/apply_print.h"

#include <inttypes.h>

static void print_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void print_value(FILE *f, const Bitdex__V1__Value *v)
{
    if (v == NULL) {
        fputs("<missing>", f);
        return;
    }
    switch (v->kind_case) {
    case BITDEX__V1__VALUE__KIND_INT_VALUE:
        fprintf(f, "%" PRId64, v->int_value);
        break;
    case BITDEX__V1__VALUE__KIND_BOOL_VALUE:
        fputs(v->bool_value ? "true" : "false", f);
        break;
    case BITDEX__V1__VALUE__KIND_STRING_VALUE:
        print_str(f, v->string_value);
        break;
    case BITDEX__V1__VALUE__KIND_NULL_VALUE:
        fputs("null", f);
        break;
    default:
        fputs("<unset>", f);
    }
}

static void print_values(FILE *f, size_t n, Bitdex__V1__Value *const *values)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputc(',', f);
        print_value(f, values[i]);
    }
    fputc(']', f);
}

static void print_filter(FILE *f, const Bitdex__V1__FieldValue *fv)
{
    fprintf(f, "%s=", fv->field);
    if (fv->value != NULL)
        print_value(f, fv->value);
    else
        print_values(f, fv->n_values, fv->values);
}

static void print_sort(FILE *f, const Bitdex__V1__SortFieldValue *sv)
{
    if (sv->kind_case == BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE)
        fprintf(f, "%s=%" PRIu64, sv->field, sv->value);
    else if (sv->kind_case == BITDEX__V1__SORT_FIELD_VALUE__KIND_NULL_VALUE)
        fprintf(f, "%s=null", sv->field);
    else
        fprintf(f, "%s=<unset>", sv->field);
}

static void print_stored(FILE *f, const Bitdex__V1__StoredFieldValue *st)
{
    const Bitdex__V1__StoredValue *v = st->value;

    fprintf(f, "%s=", st->field);
    if (v == NULL) {
        fputs("<missing>", f);
        return;
    }
    switch (v->kind_case) {
    case BITDEX__V1__STORED_VALUE__KIND_INT_VALUE:
        fprintf(f, "%" PRId64, v->int_value);
        break;
    case BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE:
        fputs(v->bool_value ? "true" : "false", f);
        break;
    case BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE:
        print_str(f, v->string_value);
        break;
    case BITDEX__V1__STORED_VALUE__KIND_BYTES_VALUE:
        fprintf(f, "<%zu bytes>", v->bytes_value.len);
        break;
    case BITDEX__V1__STORED_VALUE__KIND_DOUBLE_VALUE:
        fprintf(f, "%.17g", v->double_value);
        break;
    case BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE:
        fputs("null", f);
        break;
    default:
        fputs("<unset>", f);
    }
}

static void print_document(FILE *f, const Bitdex__V1__Document *d)
{
    if (d == NULL) {
        fputs(" <no document>", f);
        return;
    }
    fprintf(f, " id=%" PRIu32, d->id);
    if (d->n_filter_fields > 0) {
        fputs(" filter{", f);
        for (size_t i = 0; i < d->n_filter_fields; i++) {
            if (i > 0)
                fputc(' ', f);
            print_filter(f, d->filter_fields[i]);
        }
        fputc('}', f);
    }
    if (d->n_sort_fields > 0) {
        fputs(" sort{", f);
        for (size_t i = 0; i < d->n_sort_fields; i++) {
            if (i > 0)
                fputc(' ', f);
            print_sort(f, d->sort_fields[i]);
        }
        fputc('}', f);
    }
    if (d->n_stored_fields > 0) {
        fputs(" stored{", f);
        for (size_t i = 0; i < d->n_stored_fields; i++) {
            if (i > 0)
                fputc(' ', f);
            print_stored(f, d->stored_fields[i]);
        }
        fputc('}', f);
    }
}

static void print_op(FILE *f, const Bitdex__V1__Op *op)
{
    switch (op->op_case) {
    case BITDEX__V1__OP__OP_PUT:
        fputs("put", f);
        print_document(f, op->put->document);
        break;
    case BITDEX__V1__OP__OP_MERGE:
        fputs("merge", f);
        print_document(f, op->merge->document);
        break;
    case BITDEX__V1__OP__OP_DELETE:
        fprintf(f, "delete id=%" PRIu32, op->delete_->id);
        break;
    case BITDEX__V1__OP__OP_SET:
        fprintf(f, "set id=%" PRIu32 " ", op->set->id);
        if (op->set->field_case == BITDEX__V1__SET_OP__FIELD_FILTER) {
            fputs("filter ", f);
            print_filter(f, op->set->filter);
        } else if (op->set->field_case == BITDEX__V1__SET_OP__FIELD_SORT) {
            fputs("sort ", f);
            print_sort(f, op->set->sort);
        } else if (op->set->field_case == BITDEX__V1__SET_OP__FIELD_STORED) {
            fputs("stored ", f);
            print_stored(f, op->set->stored);
        } else {
            fputs("<no field>", f);
        }
        break;
    case BITDEX__V1__OP__OP_ADD:
    case BITDEX__V1__OP__OP_REMOVE: {
        const Bitdex__V1__MultiValueOp *m =
            op->op_case == BITDEX__V1__OP__OP_ADD ? op->add : op->remove;
        fprintf(f,
                "%s id=%" PRIu32 " %s=", op->op_case == BITDEX__V1__OP__OP_ADD ? "add" : "remove",
                m->id, m->field);
        print_values(f, m->n_values, m->values);
        break;
    }
    default:
        fputs("<no op>", f);
    }
}

void apply_print(FILE *f, const char *indent, const Bitdex__V1__ApplyRequest *req)
{
    fprintf(f, "%sbatch index=", indent);
    print_str(f, req->index);
    fprintf(f, " ops=%zu batch_id=", req->n_ops);
    print_str(f, req->batch_id);
    fputc('\n', f);
    for (size_t i = 0; i < req->n_ops; i++) {
        fprintf(f, "%sop %zu: ", indent, i);
        print_op(f, req->ops[i]);
        fputc('\n', f);
    }
}
