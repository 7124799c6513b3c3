/*
 * catalog: the writer's indexes and their directories. See catalog.h for the contract.
 *
 * The set is a small array sorted by name (a deployment has a handful of indexes), so lookups
 * are linear scans under the mutex.
 */
#include "services/writer/catalog.h"

#include "common/generation.h"
#include "common/index.h"
#include "common/log.h"
#include "common/schema_file.h"
#include "common/schema_pb.h"
#include "services/writer/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct entry {
    index_t *ix; /* owns its schema copy: index_schema(ix)->name is the index name */
    limits_t limits;
    commit_t *commit;         /* the only writer of ix; owned */
    checkpoint_t *ck;         /* owned */
    generation_t *mapping;    /* the generation ix was loaded from (its mapping), or NULL; owned */
    catalog_generation_t gen; /* the generation CURRENT names (Watch, stats) */
} entry_t;

struct catalog {
    char *data_dir;
    char *dir;             /* <data>/indexes */
    pthread_mutex_t admin; /* serializes operations that touch files; taken before `lock` */
    pthread_mutex_t lock;  /* guards entries/count */
    entry_t *entries;      /* sorted by name */
    size_t count, cap;
    catalog_options_t opts;
};

static const char *entry_name(const entry_t *e)
{
    return index_schema(e->ix)->name;
}

/* Position of `name` in the sorted set, or where it would go (*found false). Under `lock`. */
static size_t find(const catalog_t *cat, const char *name, bool *found)
{
    size_t i = 0;

    *found = false;
    for (; i < cat->count; i++) {
        int c = strcmp(entry_name(&cat->entries[i]), name);
        if (c == 0)
            *found = true;
        if (c >= 0)
            break;
    }
    return i;
}

/* ---- file-system helpers ---- */

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Deletes `name` in directory `dirfd` and everything below it (no symlink is followed). */
static int remove_tree_at(int dirfd, const char *name, int depth)
{
    struct dirent *de;
    DIR *d;
    int fd, rc = 0;

    if (unlinkat(dirfd, name, 0) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    if (depth > 32)
        return -ELOOP;
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if ((d = fdopendir(fd)) == NULL) {
        rc = -errno;
        close(fd);
        return rc;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r = remove_tree_at(fd, de->d_name, depth + 1);
        if (r != 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = -errno;
    return rc;
}

/* Deletes <cat->dir>/<name> recursively; logs a failure. */
static int remove_tree(const catalog_t *cat, const char *name)
{
    int dirfd = open(cat->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (dirfd < 0)
        return -errno;
    rc = remove_tree_at(dirfd, name, 0);
    close(dirfd);
    if (rc != 0)
        log_warn("catalog", "cannot delete directory", "path=%s/%s error=\"%s\"", cat->dir, name,
                 bdx_strerror(rc));
    return rc;
}

/* Creates <data>/indexes if needed, syncing <data> so the new entry survives a crash. */
static int ensure_dir(const catalog_t *cat, bdx_error_t *err)
{
    int rc;

    if (mkdir(cat->dir, 0755) != 0) {
        if (errno == EEXIST)
            return 0;
        rc = -errno;
        return bdx_error_set(err, rc, "%s: mkdir failed: %s", cat->dir, bdx_strerror(rc));
    }
    if ((rc = fsync_path(cat->data_dir)) != 0)
        return bdx_error_set(err, rc, "%s: fsync failed: %s", cat->data_dir, bdx_strerror(rc));
    return 0;
}

/* ---- open / close ---- */

static int add_entry(catalog_t *cat, const entry_t *add)
{
    index_t *ix = add->ix;
    bool found;
    size_t pos;

    pthread_mutex_lock(&cat->lock);
    pos = find(cat, index_schema(ix)->name, &found);
    if (cat->count == cat->cap) {
        size_t cap = cat->cap ? cat->cap * 2 : 8;
        entry_t *e = realloc(cat->entries, cap * sizeof(*e));
        if (e == NULL) {
            pthread_mutex_unlock(&cat->lock);
            return -ENOMEM;
        }
        cat->entries = e;
        cat->cap = cap;
    }
    memmove(&cat->entries[pos + 1], &cat->entries[pos], (cat->count - pos) * sizeof(entry_t));
    cat->entries[pos] = *add;
    cat->count++;
    pthread_mutex_unlock(&cat->lock);
    return 0;
}

/* Stops and frees what an entry owns (its index's files stay). */
static void entry_close(entry_t *e)
{
    checkpoint_stop(e->ck);  /* no new checkpoint reads the commit */
    commit_close(e->commit); /* waits for calls in flight (checkpoint_run ones too) */
    checkpoint_free(e->ck);
    index_free(e->ix);
    generation_close(e->mapping); /* after the index mapped over it */
}

/* Checkpointer thread, after each publish: record it (stats, Watch's first event) and tell
 * the Watch subscribers. An index not in the set yet (a publish racing its open) is skipped:
 * readers also poll CURRENT. */
static void on_published(void *arg, const char *index, uint64_t generation, uint64_t lsn,
                         const char *path)
{
    catalog_generation_t g = {generation, lsn, 0};
    struct timespec ts;

    (void)path;
    clock_gettime(CLOCK_REALTIME, &ts);
    g.published_unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    catalog_set_generation(arg, index, &g, NULL);
}

/* Starts the checkpointer of an opened entry. */
static int start_checkpointer(catalog_t *cat, entry_t *e, const char *index_dir, uint64_t gen,
                              uint64_t lsn, bdx_error_t *err)
{
    return checkpoint_start(index_dir, index_schema(e->ix)->name, &e->limits, e->commit, gen, lsn,
                            &cat->opts.checkpoint, on_published, cat, &e->ck, err);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Loads the index in directory <cat->dir>/<name>, or skips it (returns 0 without adding). */
static int load_one(catalog_t *cat, const char *name, bdx_error_t *err)
{
    char path[PATH_MAX], diff[160];
    schema_t *schema = NULL;
    entry_t e = {0};
    batch_ids_t *bids = NULL;
    uint64_t gen = 0, lsn = 0;
    limits_t limits;
    struct stat st;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", cat->dir, name);
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_warn("catalog", "not an index directory; skipped", "path=%s", path);
        return 0;
    }
    if (schema_pb_check_index_name(name, "directory", NULL) != 0) {
        log_warn("catalog", "invalid index name; skipped", "path=%s", path);
        return 0;
    }
    rc = schema_file_read(path, name, &schema, &limits, err);
    if (rc == -ENOENT) {
        log_warn("catalog", "no schema file; skipped", "path=%s", path);
        return 0;
    }
    if (rc == BDX_ECORRUPT && err != NULL) {
        char msg[BDX_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        return bdx_error_set(err, rc, "%s; run bitdex-check", msg);
    }
    if (rc != 0)
        return rc;
    /* Recovery: the generation CURRENT names (if any), then the WAL after its LSN. */
    snprintf(path, sizeof(path), "%s/%s", cat->dir, name);
    rc = generation_current(path, &gen, err);
    if (rc == BDX_ENOTFOUND) {
        gen = 0;
        rc = index_new(schema, &e.ix, err);
    } else if (rc == 0) {
        char gdir[PATH_MAX + 32], ids[PATH_MAX + 48];
        snprintf(gdir, sizeof(gdir), "%s/gen-%" PRIu64, path, gen);
        if ((rc = generation_open(gdir, GENERATION_VERIFY, &e.mapping, err)) == 0 &&
            (rc = generation_load(e.mapping, &e.ix, err)) == 0) {
            lsn = generation_lsn(e.mapping);
            snprintf(ids, sizeof(ids), "%s/%s", gdir, BATCH_IDS_FILE);
            if ((rc = batch_ids_load(ids, &bids, err)) == BDX_ENOTFOUND)
                rc = 0;
        }
        if (rc == 0 && schema_pb_diff(index_schema(e.ix), &limits, "in the generation", schema,
                                      &limits, "in the schema file", diff, sizeof(diff)))
            rc = bdx_error_set(err, BDX_ECORRUPT, "%s: generation %" PRIu64 " does not match: %s",
                               path, gen, diff);
    }
    schema_free(schema);
    if (rc != 0) {
        if (rc == BDX_ECORRUPT || rc == BDX_EVERSION) {
            char msg[BDX_ERROR_MSG_MAX];
            snprintf(msg, sizeof(msg), "%s", err != NULL ? err->msg : "");
            bdx_error_set(err, rc, "%s; run bitdex-check index %s", msg, path);
        }
        batch_ids_free(bids);
        index_free(e.ix);
        generation_close(e.mapping);
        return rc;
    }
    e.limits = limits;
    e.gen = (catalog_generation_t){gen, lsn, 0};
    snprintf(path, sizeof(path), "%s/%s/%s", cat->dir, name, COMMIT_WAL_DIR);
    if ((rc = commit_open(path, name, e.ix, lsn, bids, &limits, &cat->opts.commit, &e.commit,
                          err)) != 0) {
        index_free(e.ix);
        generation_close(e.mapping);
        return rc;
    }
    snprintf(path, sizeof(path), "%s/%s", cat->dir, name);
    if ((rc = start_checkpointer(cat, &e, path, gen, lsn, err)) != 0 ||
        (rc = add_entry(cat, &e)) != 0) {
        entry_close(&e);
        return rc == -ENOMEM ? bdx_error_set(err, rc, "out of memory") : rc;
    }
    log_info("catalog", "index loaded",
             "index=%s path=%s/%s generation=%" PRIu64 " docs=%llu lsn=%llu", name, cat->dir, name,
             gen, (unsigned long long)commit_doc_count(e.commit),
             (unsigned long long)commit_applied_lsn(e.commit));
    return 0;
}

int catalog_open(const char *data_dir, catalog_t **out, bdx_error_t *err)
{
    return catalog_open_with(data_dir, NULL, out, err);
}

int catalog_open_sync(const char *data_dir, const commit_options_t *commit, catalog_t **out,
                      bdx_error_t *err)
{
    catalog_options_t o = {0};

    if (commit != NULL)
        o.commit = *commit;
    return catalog_open_with(data_dir, &o, out, err);
}

int catalog_open_with(const char *data_dir, const catalog_options_t *opts, catalog_t **out,
                      bdx_error_t *err)
{
    catalog_t *cat = calloc(1, sizeof(*cat));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = NULL;
    int rc = 0;

    *out = NULL;
    if (cat == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&cat->admin, NULL);
    pthread_mutex_init(&cat->lock, NULL);
    if (opts != NULL)
        cat->opts = *opts;
    cat->data_dir = strdup(data_dir);
    cat->dir = malloc(strlen(data_dir) + sizeof(CATALOG_DIR) + 1);
    if (cat->data_dir == NULL || cat->dir == NULL) {
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    sprintf(cat->dir, "%s/%s", data_dir, CATALOG_DIR);
    if ((d = opendir(cat->dir)) == NULL) {
        if (errno == ENOENT)
            goto done;
        rc = -errno;
        bdx_error_set(err, rc, "%s: cannot open: %s", cat->dir, bdx_strerror(rc));
        goto out;
    }
    /* Names first, then the work: the loop below changes the directory. */
    while ((errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*p));
            if (p == NULL) {
                rc = bdx_error_set(err, -ENOMEM, "out of memory");
                goto out;
            }
            names = p;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = bdx_error_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    if (errno != 0) {
        rc = -errno;
        bdx_error_set(err, rc, "%s: cannot read: %s", cat->dir, bdx_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        if (starts_with(name, CATALOG_CREATE_PREFIX) || starts_with(name, CATALOG_DROP_PREFIX)) {
            /* An interrupted create (never visible) or drop (already durable): finish it. */
            log_info("catalog", "removing leftover directory", "path=%s/%s", cat->dir, name);
            remove_tree(cat, name);
            continue;
        }
        if (name[0] == '.')
            continue;
        if ((rc = load_one(cat, name, err)) != 0)
            goto out;
    }
done:
    log_info("catalog", "opened", "path=%s indexes=%zu", cat->dir, cat->count);
    *out = cat;
    cat = NULL;
out:
    if (d != NULL)
        closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    catalog_close(cat);
    return rc;
}

void catalog_close(catalog_t *cat)
{
    if (cat == NULL)
        return;
    for (size_t i = 0; i < cat->count; i++)
        entry_close(&cat->entries[i]); /* waits for writes in flight, syncs the WAL */
    free(cat->entries);
    free(cat->dir);
    free(cat->data_dir);
    pthread_mutex_destroy(&cat->lock);
    pthread_mutex_destroy(&cat->admin);
    free(cat);
}

const char *catalog_data_dir(const catalog_t *cat)
{
    return cat->data_dir;
}

/* ---- create ---- */

/* Compares the definition with the existing index of that name: *exists says whether there is
 * one, and the result whether it differs (the first difference is then in `diff`). `label`
 * names the new definition in the difference. */
static bool differs_from_existing(catalog_t *cat, const schema_t *schema, const limits_t *limits,
                                  const char *label, bool *exists, char *diff, size_t difflen)
{
    bool found, differs = false;
    size_t pos;

    pthread_mutex_lock(&cat->lock);
    pos = find(cat, schema->name, &found);
    if (found)
        differs = schema_pb_diff(index_schema(cat->entries[pos].ix), &cat->entries[pos].limits,
                                 "in the existing index", schema, limits, label, diff, difflen);
    pthread_mutex_unlock(&cat->lock);
    *exists = found;
    return differs;
}

/*
 * Durability order of a create (a crash at any point leaves the index absent or complete):
 *   1. build the in-memory index (nothing visible yet);
 *   2. make sure <data>/indexes exists (fsync <data> if it was created);
 *   3. create the staging directory <data>/indexes/.create-<name> (removing a leftover one);
 *   4. write the schema file into it (schema_file_write: temp, fsync, rename, fsync dir), then
 *      create its empty WAL in .create-<name>/wal (wal_open creates a durable first segment);
 *   5. rename .create-<name> -> <name>: the index appears on disk, complete;
 *   6. fsync <data>/indexes so the rename survives a crash;
 *   7. open the commit pipeline on <name>/wal and add the index to the in-memory set: from now
 *      on RPCs see it.
 * A failure in 3-5 removes the staging directory; the index does not exist.
 */
static int create_locked(catalog_t *cat, const schema_t *schema, const limits_t *limits,
                         bool *created, const char *source, bdx_error_t *err)
{
    char staging[PATH_MAX], final[PATH_MAX], sname[NAME_MAX + 1], diff[160], wal[PATH_MAX + 8];
    index_t *ix = NULL;
    commit_t *commit = NULL;
    bool exists;
    int rc;

    if ((rc = schema_pb_check_index_name(schema->name, "index", err)) != 0)
        return rc;
    if (differs_from_existing(cat, schema, limits, "in the request", &exists, diff, sizeof(diff)))
        return bdx_error_set(err, BDX_EEXIST, "index %s already exists with a different schema: %s",
                             schema->name, diff);
    if (exists) {
        *created = false;
        return 0;
    }
    if ((rc = index_new(schema, &ix, err)) != 0) /* 1 */
        return rc;
    snprintf(sname, sizeof(sname), "%s%s", CATALOG_CREATE_PREFIX, schema->name);
    snprintf(staging, sizeof(staging), "%s/%s", cat->dir, sname);
    snprintf(final, sizeof(final), "%s/%s", cat->dir, schema->name);
    if ((rc = ensure_dir(cat, err)) != 0) /* 2 */
        goto out;
    if (access(final, F_OK) == 0) {
        rc = bdx_error_set(err, BDX_ESTATE,
                           "%s exists but is not a loaded index (no valid schema file); "
                           "remove it first",
                           final);
        goto out;
    }
    remove_tree(cat, sname); /* 3 */
    if (mkdir(staging, 0755) != 0) {
        rc = -errno;
        bdx_error_set(err, rc, "%s: mkdir failed: %s", staging, bdx_strerror(rc));
        goto out;
    }
    if ((rc = schema_file_write(staging, schema, limits, err)) != 0) /* 4 */
        goto undo;
    snprintf(wal, sizeof(wal), "%s/%s", staging, COMMIT_WAL_DIR);
    if ((rc = commit_open(wal, schema->name, ix, 0, NULL, limits, &cat->opts.commit, &commit,
                          err)) != 0)
        goto undo;
    commit_close(commit);
    commit = NULL;
    if (rename(staging, final) != 0) { /* 5 */
        rc = -errno;
        bdx_error_set(err, rc, "rename %s -> %s failed: %s", staging, final, bdx_strerror(rc));
        goto undo;
    }
    if ((rc = fsync_path(cat->dir)) != 0) { /* 6 */
        /* The index is on disk and will load at the next start; serve it now too. */
        log_warn("catalog", "fsync failed after create", "path=%s error=\"%s\"", cat->dir,
                 bdx_strerror(rc));
        rc = 0;
    }
    snprintf(wal, sizeof(wal), "%s/%s", final, COMMIT_WAL_DIR); /* 7 */
    if ((rc = commit_open(wal, schema->name, ix, 0, NULL, limits, &cat->opts.commit, &commit,
                          err)) != 0)
        goto out;
    {
        entry_t e = {ix, *limits, commit, NULL, NULL, {0, 0, 0}};
        if ((rc = start_checkpointer(cat, &e, final, 0, 0, err)) != 0)
            goto out;
        if ((rc = add_entry(cat, &e)) != 0) {
            entry_close(&e);
            ix = NULL;
            commit = NULL;
            bdx_error_set(err, rc, "out of memory");
            goto out;
        }
    }
    ix = NULL;
    commit = NULL;
    *created = true;
    log_info("catalog", "index created", "index=%s path=%s source=%s", schema->name, final, source);
    watch_index_changed(cat->opts.commit.watch, schema->name, WATCH_INDEX_CREATED);
    goto out;
undo:
    remove_tree(cat, sname);
out:
    commit_close(commit);
    index_free(ix);
    return rc;
}

int catalog_create(catalog_t *cat, const schema_t *schema, const limits_t *limits, bool *created,
                   bdx_error_t *err)
{
    bool dummy;
    int rc;

    if (schema == NULL || limits == NULL)
        return bdx_error_set(err, BDX_EINVAL, "schema: required");
    pthread_mutex_lock(&cat->admin);
    rc = create_locked(cat, schema, limits, created ? created : &dummy, "CreateIndex", err);
    pthread_mutex_unlock(&cat->admin);
    return rc;
}

int catalog_apply_config(catalog_t *cat, const schema_yaml_t *config, bdx_error_t *err)
{
    char diff[200];
    int rc = 0;

    pthread_mutex_lock(&cat->admin);
    /* Every conflict is found before anything is created. */
    for (size_t i = 0; i < config->count && rc == 0; i++) {
        const schema_yaml_index_t *d = &config->indexes[i];
        bool exists;
        if (differs_from_existing(cat, d->schema, &d->limits, "in the file", &exists, diff,
                                  sizeof(diff)))
            rc = bdx_error_set(err, BDX_EEXIST,
                               "%s:%u: index %s differs from <data>/%s/%s/%s: %s; schema changes "
                               "are not supported (drop the index or fix the file)",
                               d->file, d->line, d->schema->name, CATALOG_DIR, d->schema->name,
                               SCHEMA_FILE_NAME, diff);
    }
    for (size_t i = 0; i < config->count && rc == 0; i++) {
        const schema_yaml_index_t *d = &config->indexes[i];
        bool created;
        rc = create_locked(cat, d->schema, &d->limits, &created, d->file, err);
    }
    pthread_mutex_unlock(&cat->admin);
    return rc;
}

/* ---- drop ---- */

/*
 * Durability order of a drop:
 *   1. rename <data>/indexes/<name> -> <data>/indexes/.drop-<name>-<n>: readers stop seeing it;
 *   2. fsync <data>/indexes: from here the drop survives a crash (a crash before it may bring
 *      the index back, whole);
 *   3. remove the index from the in-memory set and free it;
 *   4. delete the tombstone recursively (if this fails, catalog_open() retries).
 */
int catalog_drop(catalog_t *cat, const char *name, bdx_error_t *err)
{
    static atomic_uint seq;
    char path[PATH_MAX], tomb[NAME_MAX + 1], tomb_path[PATH_MAX];
    entry_t dropped;
    bool found;
    size_t pos;
    int rc = 0;

    if (name == NULL || name[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "index: required");
    pthread_mutex_lock(&cat->admin);
    pthread_mutex_lock(&cat->lock);
    find(cat, name, &found);
    pthread_mutex_unlock(&cat->lock);
    if (!found) {
        rc = bdx_error_set(err, BDX_ENOTFOUND, "index %s: not found", name);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", cat->dir, name);
    for (int attempt = 0;; attempt++) { /* 1 */
        snprintf(tomb, sizeof(tomb), "%s%s-%lld-%u", CATALOG_DROP_PREFIX, name,
                 (long long)time(NULL), atomic_fetch_add(&seq, 1));
        snprintf(tomb_path, sizeof(tomb_path), "%s/%s", cat->dir, tomb);
        if (rename(path, tomb_path) == 0)
            break;
        rc = -errno;
        if ((rc != -EEXIST && rc != -ENOTEMPTY) || attempt > 100) {
            bdx_error_set(err, rc, "rename %s -> %s failed: %s", path, tomb_path, bdx_strerror(rc));
            goto out;
        }
    }
    rc = fsync_path(cat->dir); /* 2 */
    if (rc != 0)
        log_warn("catalog", "fsync failed after drop", "path=%s error=\"%s\"", cat->dir,
                 bdx_strerror(rc));
    rc = 0;
    pthread_mutex_lock(&cat->lock); /* 3 */
    pos = find(cat, name, &found);
    dropped = cat->entries[pos];
    memmove(&cat->entries[pos], &cat->entries[pos + 1], (cat->count - pos - 1) * sizeof(entry_t));
    cat->count--;
    pthread_mutex_unlock(&cat->lock);
    entry_close(&dropped); /* waits for writes in flight on the index */
    log_info("catalog", "index dropped", "index=%s", name);
    watch_index_changed(cat->opts.commit.watch, name, WATCH_INDEX_DROPPED);
    remove_tree(cat, tomb); /* 4 */
out:
    pthread_mutex_unlock(&cat->admin);
    return rc;
}

/* ---- reads ---- */

static int info_of(const entry_t *e, catalog_info_t *out)
{
    memset(out, 0, sizeof(*out));
    if (schema_copy(index_schema(e->ix), &out->schema) != 0)
        return -ENOMEM;
    out->limits = e->limits;
    /* Not index_doc_count(): the commit may be writing the index right now. */
    out->document_count = commit_doc_count(e->commit);
    out->applied_lsn = commit_applied_lsn(e->commit);
    out->committed_lsn = commit_committed_lsn(e->commit);
    checkpoint_last(e->ck, &out->checkpoint);
    commit_wal_usage(e->commit, &out->wal_bytes, &out->wal_segments);
    out->mapped_bytes = e->mapping != NULL ? generation_mapped_bytes(e->mapping) : 0;
    out->generation = e->gen;
    return 0;
}

/* The commit of index `name` with a reference taken (commit_unref() it), or an error. */
static int acquire(catalog_t *cat, const char *name, commit_t **out, bdx_error_t *err)
{
    bool found;
    size_t pos;

    *out = NULL;
    if (name == NULL || name[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "index: required");
    pthread_mutex_lock(&cat->lock);
    pos = find(cat, name, &found);
    if (found) {
        *out = cat->entries[pos].commit;
        commit_ref(*out);
    }
    pthread_mutex_unlock(&cat->lock);
    return found ? 0 : bdx_error_set(err, BDX_ENOTFOUND, "index %s: not found", name);
}

int catalog_apply(catalog_t *cat, const Bitdex__V1__ApplyRequest *req, const void *wire,
                  size_t wire_len, bool wire_canonical, bool wait, commit_result_t *res,
                  bdx_error_t *err)
{
    commit_t *c;
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = acquire(cat, req->index, &c, err)) != 0)
        return rc;
    rc = wait ? commit_apply(c, req, wire, wire_len, wire_canonical, res, err)
              : commit_append(c, req, wire, wire_len, wire_canonical, res, err);
    commit_unref(c);
    return rc;
}

int catalog_checkpoint(catalog_t *cat, const char *name, checkpoint_info_t *info, bdx_error_t *err)
{
    checkpoint_t *ck = NULL;
    commit_t *c = NULL;
    bool found;
    size_t pos;
    int rc;

    memset(info, 0, sizeof(*info));
    if (name == NULL || name[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "index: required");
    pthread_mutex_lock(&cat->lock);
    pos = find(cat, name, &found);
    if (found) { /* the commit reference keeps the checkpointer alive too (entry_close) */
        c = cat->entries[pos].commit;
        ck = cat->entries[pos].ck;
        commit_ref(c);
    }
    pthread_mutex_unlock(&cat->lock);
    if (!found)
        return bdx_error_set(err, BDX_ENOTFOUND, "index %s: not found", name);
    rc = checkpoint_run(ck, info, err);
    commit_unref(c);
    return rc;
}

int catalog_wait(catalog_t *cat, const char *name, uint64_t lsn, bdx_error_t *err)
{
    commit_t *c;
    int rc;

    if ((rc = acquire(cat, name, &c, err)) != 0)
        return rc;
    rc = commit_wait(c, lsn, err);
    commit_unref(c);
    return rc;
}

int catalog_get(catalog_t *cat, const char *name, catalog_info_t *out, bdx_error_t *err)
{
    bool found;
    size_t pos;
    int rc;

    memset(out, 0, sizeof(*out));
    if (name == NULL || name[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "index: required");
    pthread_mutex_lock(&cat->lock);
    pos = find(cat, name, &found);
    rc = found ? info_of(&cat->entries[pos], out) : BDX_ENOTFOUND;
    pthread_mutex_unlock(&cat->lock);
    if (rc == BDX_ENOTFOUND)
        return bdx_error_set(err, rc, "index %s: not found", name);
    if (rc != 0)
        return bdx_error_set(err, rc, "out of memory");
    return 0;
}

int catalog_list(catalog_t *cat, catalog_info_t **out, size_t *count)
{
    catalog_info_t *infos = NULL;
    size_t n = 0;
    int rc = 0;

    *out = NULL;
    *count = 0;
    pthread_mutex_lock(&cat->lock);
    if (cat->count > 0 && (infos = calloc(cat->count, sizeof(*infos))) == NULL)
        rc = -ENOMEM;
    for (; rc == 0 && n < cat->count; n++)
        if ((rc = info_of(&cat->entries[n], &infos[n])) != 0)
            break;
    pthread_mutex_unlock(&cat->lock);
    if (rc != 0) {
        catalog_info_free(infos, n);
        return rc;
    }
    *out = infos;
    *count = n;
    return 0;
}

/* The entry of `name` under cat->lock (NULL and the error in err when missing). */
static entry_t *lookup_locked(catalog_t *cat, const char *name, bdx_error_t *err)
{
    bool found;
    size_t pos = find(cat, name, &found);

    if (!found) {
        bdx_error_set(err, BDX_ENOTFOUND, "index %s: not found", name);
        return NULL;
    }
    return &cat->entries[pos];
}

int catalog_set_generation(catalog_t *cat, const char *name, const catalog_generation_t *gen,
                           bdx_error_t *err)
{
    char path[PATH_MAX];
    bool newer = false;
    entry_t *e;

    if (name == NULL || name[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "index: required");
    pthread_mutex_lock(&cat->lock);
    if ((e = lookup_locked(cat, name, err)) != NULL && gen->generation > e->gen.generation) {
        e->gen = *gen;
        newer = true;
    }
    pthread_mutex_unlock(&cat->lock);
    if (e == NULL)
        return BDX_ENOTFOUND;
    if (newer) {
        snprintf(path, sizeof(path), CATALOG_GEN_PATH_FMT, name,
                 (unsigned long long)gen->generation);
        watch_generation_published(cat->opts.commit.watch, name, gen->generation,
                                   gen->checkpoint_lsn, path);
    }
    return 0;
}

int catalog_generation(catalog_t *cat, const char *name, catalog_generation_t *out,
                       bdx_error_t *err)
{
    entry_t *e;

    memset(out, 0, sizeof(*out));
    if (name == NULL || name[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "index: required");
    pthread_mutex_lock(&cat->lock);
    if ((e = lookup_locked(cat, name, err)) != NULL)
        *out = e->gen;
    pthread_mutex_unlock(&cat->lock);
    return e != NULL ? 0 : BDX_ENOTFOUND;
}

int catalog_memory(catalog_t *cat, const char *name, index_memory_t *out, bdx_error_t *err)
{
    commit_t *c;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = acquire(cat, name, &c, err)) != 0)
        return rc;
    commit_memory(c, out);
    commit_unref(c);
    return 0;
}

size_t catalog_count(catalog_t *cat)
{
    size_t n;

    pthread_mutex_lock(&cat->lock);
    n = cat->count;
    pthread_mutex_unlock(&cat->lock);
    return n;
}

void catalog_info_clear(catalog_info_t *info)
{
    schema_free(info->schema);
    memset(info, 0, sizeof(*info));
}

void catalog_info_free(catalog_info_t *infos, size_t count)
{
    for (size_t i = 0; i < count && infos != NULL; i++)
        catalog_info_clear(&infos[i]);
    free(infos);
}
