/*
 * explain: collecting and printing a query's trace. See explain.h.
 */
#include "common/explain.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

explain_t *explain_new(void)
{
    return calloc(1, sizeof(explain_t));
}

void explain_free(explain_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nclauses; i++)
        free(e->clauses[i].text);
    free(e->clauses);
    free(e->canonical);
    free(e->sort);
    free(e);
}

static int add_clauses(explain_t *e, const query_node_t *n, unsigned depth, size_t *cap)
{
    if (e->nclauses == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        explain_clause_t *v = realloc(e->clauses, c * sizeof(*v));
        if (!v)
            return -ENOMEM;
        e->clauses = v;
        *cap = c;
    }
    explain_clause_t *cl = &e->clauses[e->nclauses];
    memset(cl, 0, sizeof(*cl));
    if (n->op == QUERY_AND || n->op == QUERY_OR || n->op == QUERY_NOT) {
        cl->text = strdup(query_op_name(n->op));
        if (!cl->text)
            return -ENOMEM;
    } else if (query_canonical_text(n, &cl->text) < 0) {
        return -ENOMEM;
    }
    cl->depth = depth;
    cl->estimate = n->stats.estimate;
    cl->actual = n->stats.actual;
    cl->ns = n->stats.ns;
    cl->evaluated = n->stats.evaluated;
    cl->applied = n->stats.applied;
    e->nclauses++;
    for (size_t i = 0; i < n->nchildren; i++) {
        int rc = add_clauses(e, n->children[i], depth + 1, cap);
        if (rc)
            return rc;
    }
    return 0;
}

int explain_set_plan(explain_t *e, const query_node_t *root)
{
    size_t cap = 0;
    free(e->canonical);
    e->canonical = NULL;
    if (query_canonical_text(root, &e->canonical) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < e->nclauses; i++)
        free(e->clauses[i].text);
    free(e->clauses);
    e->clauses = NULL;
    e->nclauses = 0;
    return root ? add_clauses(e, root, 0, &cap) : 0;
}

int explain_set_sort(explain_t *e, const char *field, bool desc)
{
    char buf[128];
    if (field)
        snprintf(buf, sizeof(buf), "%s %s", field, desc ? "desc" : "asc");
    else
        snprintf(buf, sizeof(buf), "id desc (no sort)");
    free(e->sort);
    e->sort = strdup(buf);
    return e->sort ? 0 : -ENOMEM;
}

typedef struct out {
    char *p;
    size_t len, cap;
    bool oom;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out_t *o, const char *fmt, ...)
{
    va_list ap;
    if (o->oom)
        return;
    for (;;) {
        size_t room = o->cap - o->len;
        va_start(ap, fmt);
        int w = vsnprintf(o->p ? o->p + o->len : NULL, room, fmt, ap);
        va_end(ap);
        if (w < 0) {
            o->oom = true;
            return;
        }
        if ((size_t)w < room) {
            o->len += (size_t)w;
            return;
        }
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + (size_t)w + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

int explain_format(const explain_t *e, char **out)
{
    out_t o = {0};
    put(&o, "plan: %s\n", e->canonical ? e->canonical : "all");
    put(&o, "sort: %s limit %u%s\n", e->sort ? e->sort : "?", e->limit,
        e->has_cursor ? " after cursor" : "");
    if (e->filter_built)
        put(&o, "filter: est %llu expected %llu actual %llu in %.1fus\n",
            (unsigned long long)e->filter_estimate, (unsigned long long)e->filter_expected,
            (unsigned long long)e->filter_count, us(e->filter_ns));
    else
        put(&o, "filter: est %llu expected %llu not built: tested per slot\n",
            (unsigned long long)e->filter_estimate, (unsigned long long)e->filter_expected);
    if (!e->filter_built && e->has_total)
        put(&o, "  exact total %llu counted in %.1fus\n", (unsigned long long)e->filter_count,
            us(e->filter_ns));
    if (e->walk_tested)
        put(&o, "  walk gave up after testing %llu slots: filter built instead\n",
            (unsigned long long)e->walk_tested);
    for (size_t i = 0; i < e->nclauses; i++) {
        const explain_clause_t *c = &e->clauses[i];
        int indent = 2 + 2 * (int)c->depth;
        if (c->evaluated)
            put(&o, "%*s%s  est %llu actual %llu %.1fus%s\n", indent, "", c->text,
                (unsigned long long)c->estimate, (unsigned long long)c->actual, us(c->ns),
                c->applied ? " applied" : "");
        else
            put(&o, "%*s%s  est %llu skipped\n", indent, "", c->text,
                (unsigned long long)c->estimate);
    }
    put(&o, "strategy: %s (%s)\n", sort_strategy_name(e->strategy), e->reason);
    put(&o, "sort: %zu rows in %.1fus\n", e->rows, us(e->sort_ns));
    put(&o, "time: prepare %.1fus filter %.1fus sort %.1fus total %.1fus\n", us(e->prepare_ns),
        us(e->filter_ns), us(e->sort_ns), us(e->total_ns));
    if (o.oom || !o.p) {
        free(o.p);
        *out = NULL;
        return -ENOMEM;
    }
    *out = o.p;
    return 0;
}
