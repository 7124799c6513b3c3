/*
 * schema_yaml: YAML index declarations -> IndexSchema -> schema_t. See schema_yaml.h.
 *
 * libyaml loads each file into a node tree; the walk below turns it into the same IndexSchema
 * message CreateIndex receives, so both paths share one validator (schema_pb_to_schema). The
 * walk remembers the line of every element it visits under its proto path, which is how an
 * error from the validator ("schema.sort_fields[2].bits: 65 > 64") gets its line number.
 */
#include "common/schema_yaml.h"

#include "common/schema_pb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define PATH_LEN 128

typedef struct path_line {
    char path[PATH_LEN];
    unsigned line;
} path_line_t;

/* State of one file's walk. */
typedef struct walk {
    const char *file;
    yaml_document_t *doc;
    bdx_error_t *err;
    path_line_t *lines; /* proto path -> line, for validator errors */
    size_t nlines, cap;
} walk_t;

static unsigned line_of(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1;
}

static int fail(walk_t *w, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(walk_t *w, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    char reason[BDX_ERROR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    /* Paths are recorded with the proto's "schema." prefix; YAML keys have none. */
    if (strncmp(path, "schema.", 7) == 0)
        path += 7;
    if (path[0] == '\0')
        path = "(top level)";
    return bdx_error_set(w->err, BDX_EINVAL, "%s:%u: %s: %s", w->file, n ? line_of(n) : 1, path,
                         reason);
}

static int nomem(walk_t *w)
{
    return bdx_error_set(w->err, -ENOMEM, "out of memory");
}

static int remember(walk_t *w, const char *path, const yaml_node_t *n)
{
    if (w->nlines == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        path_line_t *p = realloc(w->lines, cap * sizeof(*p));
        if (p == NULL)
            return nomem(w);
        w->lines = p;
        w->cap = cap;
    }
    snprintf(w->lines[w->nlines].path, PATH_LEN, "%s", path);
    w->lines[w->nlines++].line = line_of(n);
    return 0;
}

/* The line of the longest remembered path that `path` starts with (element boundary), or 0. */
static unsigned lookup_line(const walk_t *w, const char *path, size_t plen)
{
    size_t best = 0;
    unsigned line = 0;

    for (size_t i = 0; i < w->nlines; i++) {
        size_t l = strlen(w->lines[i].path);
        if (l > plen || l < best || strncmp(w->lines[i].path, path, l) != 0)
            continue;
        if (l < plen && path[l] != '.' && path[l] != '[')
            continue;
        best = l;
        line = w->lines[i].line;
    }
    return line;
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "empty";
    }
}

static int want_kind(walk_t *w, const yaml_node_t *n, const char *path, yaml_node_type_t type)
{
    static const char *const names[] = {[YAML_SCALAR_NODE] = "a value",
                                        [YAML_SEQUENCE_NODE] = "a list",
                                        [YAML_MAPPING_NODE] = "a mapping"};

    if (n->type == type)
        return 0;
    return fail(w, n, path, "must be %s, not %s", names[type], kind_name(n));
}

static int get_string(walk_t *w, const yaml_node_t *n, const char *path, char **out)
{
    int rc = want_kind(w, n, path, YAML_SCALAR_NODE);
    char *s;

    if (rc != 0)
        return rc;
    if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL)
        return fail(w, n, path, "contains a NUL character");
    if ((s = strdup(scalar(n))) == NULL)
        return nomem(w);
    *out = s;
    return 0;
}

static int get_u32(walk_t *w, const yaml_node_t *n, const char *path, uint32_t *out)
{
    const char *s;
    char *end;
    unsigned long long v;
    int rc = want_kind(w, n, path, YAML_SCALAR_NODE);

    if (rc != 0)
        return rc;
    s = scalar(n);
    if (s[0] < '0' || s[0] > '9')
        return fail(w, n, path, "\"%.40s\" is not a non-negative integer", s);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return fail(w, n, path, "\"%.40s\" is not a non-negative integer", s);
    if (errno != 0 || v > UINT32_MAX)
        return fail(w, n, path, "%.40s is out of range (at most %u)", s, UINT32_MAX);
    *out = (uint32_t)v;
    return 0;
}

static int get_bool(walk_t *w, const yaml_node_t *n, const char *path, protobuf_c_boolean *out)
{
    int rc = want_kind(w, n, path, YAML_SCALAR_NODE);
    const char *s;

    if (rc != 0)
        return rc;
    s = scalar(n);
    if (strcasecmp(s, "true") == 0) {
        *out = 1;
        return 0;
    }
    if (strcasecmp(s, "false") == 0) {
        *out = 0;
        return 0;
    }
    return fail(w, n, path, "\"%.40s\" is not a boolean (want true or false)", s);
}

/* An enum given by its short name ("int") or the proto's full name ("FILTER_FIELD_TYPE_INT"). */
static int get_enum(walk_t *w, const yaml_node_t *n, const char *path, const char *prefix,
                    const char *const *names, size_t count, int *out)
{
    char want[160] = "";
    const char *s;
    size_t plen = strlen(prefix);
    int rc = want_kind(w, n, path, YAML_SCALAR_NODE);

    if (rc != 0)
        return rc;
    s = scalar(n);
    for (size_t i = 0; i < count; i++) {
        bool full = strncmp(s, prefix, plen) == 0 && strcasecmp(s + plen, names[i]) == 0;
        if (strcmp(s, names[i]) == 0 || full) {
            *out = (int)i + 1;
            return 0;
        }
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? ", " : "", names[i]);
    }
    return fail(w, n, path, "unknown value \"%.40s\" (want one of %s)", s, want);
}

/* Calls fn(key, value) for each pair of mapping `n`, after checking keys against `keys`. */
typedef int (*pair_fn)(walk_t *w, const char *key, const yaml_node_t *value, const char *path,
                       void *arg);

static int each_pair(walk_t *w, const yaml_node_t *n, const char *path, const char *const *keys,
                     pair_fn fn, void *arg)
{
    int rc = want_kind(w, n, path, YAML_MAPPING_NODE);

    if (rc != 0)
        return rc;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        const char *key = k ? scalar(k) : NULL;
        char kpath[PATH_LEN];
        bool known = keys == NULL;

        if (key == NULL)
            return fail(w, k, path, "keys must be plain names");
        if (snprintf(kpath, sizeof(kpath), "%s%s%s", path, path[0] ? "." : "", key) >=
            (int)sizeof(kpath))
            return fail(w, k, path, "key path too long");
        for (size_t i = 0; keys != NULL && keys[i] != NULL; i++)
            known = known || strcmp(keys[i], key) == 0;
        if (!known) {
            char want[256] = "";
            for (size_t i = 0; keys[i] != NULL; i++)
                snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? ", " : "",
                         keys[i]);
            return fail(w, k, kpath, "unknown key (want one of %s)", want);
        }
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qk = yaml_document_get_node(w->doc, q->key);
            if (qk && scalar(qk) && strcmp(scalar(qk), key) == 0)
                return fail(w, k, kpath, "repeated key (first on line %u)", line_of(qk));
        }
        if ((rc = remember(w, kpath, v)) != 0 || (rc = fn(w, key, v, kpath, arg)) != 0)
            return rc;
    }
    return 0;
}

/* ---- elements ---- */

static const char *const filter_types[] = {"int", "bool", "string"};
static const char *const stored_types[] = {"int", "bool", "string", "bytes", "double"};
static const char *const functions[] = {"greatest", "least"};

static int filter_pair(walk_t *w, const char *key, const yaml_node_t *v, const char *path,
                       void *arg)
{
    Bitdex__V1__FilterFieldSpec *f = arg;
    int t = 0, rc;

    if (strcmp(key, "name") == 0)
        return get_string(w, v, path, &f->name);
    if (strcmp(key, "type") == 0) {
        rc = get_enum(w, v, path, "FILTER_FIELD_TYPE_", filter_types, 3, &t);
        f->type = (Bitdex__V1__FilterFieldType)t;
        return rc;
    }
    if (strcmp(key, "multi_valued") == 0)
        return get_bool(w, v, path, &f->multi_valued);
    return get_bool(w, v, path, &f->nullable);
}

static int computed_pair(walk_t *w, const char *key, const yaml_node_t *v, const char *path,
                         void *arg)
{
    Bitdex__V1__ComputedSortSpec *c = arg;
    int t = 0, rc;

    if (strcmp(key, "function") == 0) {
        rc = get_enum(w, v, path, "COMPUTE_FUNCTION_", functions, 2, &t);
        c->function = (Bitdex__V1__ComputeFunction)t;
        return rc;
    }
    if ((rc = want_kind(w, v, path, YAML_SEQUENCE_NODE)) != 0)
        return rc;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if ((c->sources = calloc(n + 1, sizeof(char *))) == NULL)
        return nomem(w);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
        char ipath[PATH_LEN];
        if (snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i) >= (int)sizeof(ipath))
            return fail(w, item, path, "key path too long");
        if ((rc = remember(w, ipath, item)) != 0 ||
            (rc = get_string(w, item, ipath, &c->sources[i])) != 0)
            return rc;
        c->n_sources++;
    }
    return 0;
}

static int sort_pair(walk_t *w, const char *key, const yaml_node_t *v, const char *path, void *arg)
{
    static const char *const keys[] = {"function", "sources", NULL};
    Bitdex__V1__SortFieldSpec *f = arg;

    if (strcmp(key, "name") == 0)
        return get_string(w, v, path, &f->name);
    if (strcmp(key, "bits") == 0)
        return get_u32(w, v, path, &f->bits);
    if ((f->computed = malloc(sizeof(*f->computed))) == NULL)
        return nomem(w);
    bitdex__v1__computed_sort_spec__init(f->computed);
    return each_pair(w, v, path, keys, computed_pair, f->computed);
}

static int stored_pair(walk_t *w, const char *key, const yaml_node_t *v, const char *path,
                       void *arg)
{
    Bitdex__V1__StoredFieldSpec *f = arg;
    int t = 0, rc;

    if (strcmp(key, "name") == 0)
        return get_string(w, v, path, &f->name);
    rc = get_enum(w, v, path, "STORED_FIELD_TYPE_", stored_types, 5, &t);
    f->type = (Bitdex__V1__StoredFieldType)t;
    return rc;
}

/* Limits are read straight into IndexLimits through its descriptor: every uint32 field. */
static int limits_pair(walk_t *w, const char *key, const yaml_node_t *v, const char *path,
                       void *arg)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(&bitdex__v1__index_limits__descriptor, key);

    return get_u32(w, v, path, (uint32_t *)((char *)arg + fd->offset));
}

/* Reads a list of field mappings into a repeated message field. */
typedef void *(*new_elem_fn)(void);

static void *new_filter(void)
{
    Bitdex__V1__FilterFieldSpec *f = malloc(sizeof(*f));
    if (f)
        bitdex__v1__filter_field_spec__init(f);
    return f;
}

static void *new_sort(void)
{
    Bitdex__V1__SortFieldSpec *f = malloc(sizeof(*f));
    if (f)
        bitdex__v1__sort_field_spec__init(f);
    return f;
}

static void *new_stored(void)
{
    Bitdex__V1__StoredFieldSpec *f = malloc(sizeof(*f));
    if (f)
        bitdex__v1__stored_field_spec__init(f);
    return f;
}

static int field_list(walk_t *w, const yaml_node_t *v, const char *path, void ***arr, size_t *n,
                      new_elem_fn make, const char *const *keys, pair_fn fn)
{
    int rc = want_kind(w, v, path, YAML_SEQUENCE_NODE);
    size_t count;

    if (rc != 0)
        return rc;
    count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if ((*arr = calloc(count + 1, sizeof(void *))) == NULL)
        return nomem(w);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, v->data.sequence.items.start[i]);
        char ipath[PATH_LEN];
        void *elem = make();
        if (elem == NULL)
            return nomem(w);
        (*arr)[(*n)++] = elem;
        if (snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i) >= (int)sizeof(ipath))
            return fail(w, item, path, "key path too long");
        if ((rc = remember(w, ipath, item)) != 0 ||
            (rc = each_pair(w, item, ipath, keys, fn, elem)))
            return rc;
    }
    return 0;
}

/* `limits:` -> IndexLimits; its keys are the message's uint32 fields. */
static int limits_block(walk_t *w, const yaml_node_t *v, const char *path,
                        Bitdex__V1__IndexSchema *pb)
{
    const ProtobufCMessageDescriptor *ld = &bitdex__v1__index_limits__descriptor;
    const char *keys[32];
    size_t n = 0;

    for (unsigned i = 0; i < ld->n_fields && n + 1 < 32; i++)
        if (ld->fields[i].type == PROTOBUF_C_TYPE_UINT32)
            keys[n++] = ld->fields[i].name;
    keys[n] = NULL;
    if ((pb->limits = malloc(sizeof(*pb->limits))) == NULL)
        return nomem(w);
    bitdex__v1__index_limits__init(pb->limits);
    return each_pair(w, v, path, keys, limits_pair, pb->limits);
}

typedef struct root {
    char *index;
    const yaml_node_t *index_node;
    Bitdex__V1__IndexSchema *pb;
} root_t;

static int root_pair(walk_t *w, const char *key, const yaml_node_t *v, const char *path, void *arg)
{
    static const char *const filter_keys[] = {"name", "type", "multi_valued", "nullable", NULL};
    static const char *const sort_keys[] = {"name", "bits", "computed", NULL};
    static const char *const stored_keys[] = {"name", "type", NULL};
    root_t *r = arg;
    Bitdex__V1__IndexSchema *pb = r->pb;
    char spath[PATH_LEN];
    int rc;

    if (strcmp(key, "index") == 0) {
        r->index_node = v;
        return get_string(w, v, path, &r->index);
    }
    /* The validator reports paths under "schema."; remember the element there too. */
    if (snprintf(spath, sizeof(spath), "schema.%s", path) >= (int)sizeof(spath))
        return fail(w, v, path, "key path too long");
    if ((rc = remember(w, spath, v)) != 0)
        return rc;
    if (strcmp(key, "filter_fields") == 0)
        return field_list(w, v, spath, (void ***)&pb->filter_fields, &pb->n_filter_fields,
                          new_filter, filter_keys, filter_pair);
    if (strcmp(key, "sort_fields") == 0)
        return field_list(w, v, spath, (void ***)&pb->sort_fields, &pb->n_sort_fields, new_sort,
                          sort_keys, sort_pair);
    if (strcmp(key, "stored_fields") == 0)
        return field_list(w, v, spath, (void ***)&pb->stored_fields, &pb->n_stored_fields,
                          new_stored, stored_keys, stored_pair);
    return limits_block(w, v, spath, pb);
}

/* Builds the IndexSchema from the document root and validates it. */
static int walk_root(walk_t *w, const yaml_node_t *root, schema_yaml_index_t *out)
{
    static const char *const keys[] = {"index",         "filter_fields", "sort_fields",
                                       "stored_fields", "limits",        NULL};
    root_t r = {0};
    bdx_error_t e = {0};
    int rc;

    if ((r.pb = malloc(sizeof(*r.pb))) == NULL)
        return nomem(w);
    bitdex__v1__index_schema__init(r.pb);
    if ((rc = each_pair(w, root, "", keys, root_pair, &r)) != 0)
        goto out;
    if (r.index == NULL) {
        rc = fail(w, root, "index", "required (the index name)");
        goto out;
    }
    rc = schema_pb_to_schema(r.index, r.pb, &out->schema, &out->limits, &e);
    if (rc == -ENOMEM) {
        nomem(w);
    } else if (rc != 0) {
        const char *msg = bdx_error_message(&e), *colon = strstr(msg, ": ");
        size_t plen = colon ? (size_t)(colon - msg) : 0;
        unsigned line = lookup_line(w, msg, plen);
        if (line == 0)
            line = plen == 5 && strncmp(msg, "index", 5) == 0 && r.index_node
                       ? line_of(r.index_node)
                       : line_of(root);
        if (strncmp(msg, "schema.", 7) == 0)
            msg += 7;
        rc = bdx_error_set(w->err, rc, "%s:%u: %s", w->file, line, msg);
    } else {
        out->line = r.index_node ? line_of(r.index_node) : line_of(root);
    }
out:
    free(r.index);
    protobuf_c_message_free_unpacked(&r.pb->base, NULL);
    return rc;
}

int schema_yaml_parse(const char *file, const char *text, size_t len, schema_yaml_index_t *out,
                      bdx_error_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    walk_t w = {.file = file, .doc = &doc, .err = err};
    yaml_node_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!yaml_parser_initialize(&parser))
        return bdx_error_set(err, -ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = bdx_error_set(err, parser.error == YAML_MEMORY_ERROR ? -ENOMEM : BDX_EINVAL,
                           "%s:%zu: YAML syntax: %s%s%s", file, parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "invalid", parser.context ? " " : "",
                           parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return rc;
    }
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        rc = bdx_error_set(err, BDX_EINVAL, "%s:1: empty file: want one index declaration", file);
        goto out;
    }
    /* One index per file: a second document is an error, not silently ignored. */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = bdx_error_set(err, BDX_EINVAL, "%s:%zu: YAML syntax: %s", file,
                           parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "invalid");
        goto out;
    }
    if (yaml_document_get_root_node(&extra) != NULL) {
        rc = bdx_error_set(err, BDX_EINVAL,
                           "%s:%u: a second YAML document: declare one index per file", file,
                           line_of(yaml_document_get_root_node(&extra)));
        yaml_document_delete(&extra);
        goto out;
    }
    yaml_document_delete(&extra);
    if ((rc = walk_root(&w, root, out)) != 0)
        goto out;
    if ((out->file = strdup(file)) == NULL)
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
out:
    if (rc != 0)
        schema_yaml_index_clear(out);
    free(w.lines);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int schema_yaml_load_file(const char *path, schema_yaml_index_t *out, bdx_error_t *err)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd, rc;

    memset(out, 0, sizeof(*out));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        return bdx_error_set(err, rc, "%s: cannot open: %s", path, bdx_strerror(rc));
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        bdx_error_set(err, rc, "%s: cannot stat: %s", path, bdx_strerror(rc));
        goto out;
    }
    if ((uint64_t)st.st_size > SCHEMA_YAML_MAX_FILE_BYTES) {
        rc = bdx_error_set(err, BDX_EINVAL, "%s: %lld bytes, larger than the %u allowed", path,
                           (long long)st.st_size, SCHEMA_YAML_MAX_FILE_BYTES);
        goto out;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            bdx_error_set(err, rc, "%s: cannot read: %s", path, bdx_strerror(rc));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    rc = schema_yaml_parse(path, buf, got, out, err);
out:
    free(buf);
    close(fd);
    return rc;
}

static bool is_yaml_name(const char *name)
{
    size_t n = strlen(name);

    if (name[0] == '.')
        return false;
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int schema_yaml_load_dir(const char *dir, schema_yaml_t **out, bdx_error_t *err)
{
    schema_yaml_t *set = calloc(1, sizeof(*set));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = NULL;
    int rc = 0;

    *out = NULL;
    if (set == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    if ((d = opendir(dir)) == NULL) {
        rc = -errno;
        bdx_error_set(err, rc, "config directory %s: cannot open: %s", dir, bdx_strerror(rc));
        goto out;
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        if (!is_yaml_name(de->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* a dangling link or a directory named *.yaml declares nothing */
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*p));
            if (p == NULL)
                goto nomem;
            names = p;
        }
        if ((names[n] = strdup(path)) == NULL)
            goto nomem;
        n++;
    }
    if (errno != 0) {
        rc = -errno;
        bdx_error_set(err, rc, "config directory %s: cannot read: %s", dir, bdx_strerror(rc));
        goto out;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    if (n > 0 && (set->indexes = calloc(n, sizeof(*set->indexes))) == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        schema_yaml_index_t *ix = &set->indexes[set->count];
        if ((rc = schema_yaml_load_file(names[i], ix, err)) != 0)
            goto out;
        set->count++;
        for (size_t k = 0; k + 1 < set->count; k++) {
            const schema_yaml_index_t *o = &set->indexes[k];
            if (strcmp(o->schema->name, ix->schema->name) == 0) {
                rc = bdx_error_set(err, BDX_EINVAL,
                                   "%s:%u: index: \"%s\" is already declared in %s:%u", ix->file,
                                   ix->line, ix->schema->name, o->file, o->line);
                goto out;
            }
        }
    }
    *out = set;
    set = NULL;
    goto out;
nomem:
    rc = bdx_error_set(err, -ENOMEM, "out of memory");
out:
    if (d != NULL)
        closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    schema_yaml_free(set);
    return rc;
}

void schema_yaml_index_clear(schema_yaml_index_t *ix)
{
    free(ix->file);
    schema_free(ix->schema);
    memset(ix, 0, sizeof(*ix));
}

void schema_yaml_free(schema_yaml_t *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->count; i++)
        schema_yaml_index_clear(&set->indexes[i]);
    free(set->indexes);
    free(set);
}
