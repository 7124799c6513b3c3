/*
 * watch: the Watch hub. See watch.h for the contract.
 *
 * Two locks. `nmu` guards only the table of the newest committed LSN per index that the commit
 * writes into (watch_lsn_advance): the commit never waits for anything but a few string
 * compares. `mu` guards the subscribers; the hub thread moves new LSNs from the table to them,
 * sends heartbeats, and the rpc layer's on_sent callback (a CQ thread) sends a subscriber's next
 * event as soon as its previous one is written. Lock order: mu before nmu (never the reverse).
 *
 * Per subscriber and followed index the state is {want_lsn, sent_lsn, pending generation}: an
 * LsnAdvance is due when want > sent, so any number of commits between two sends collapse into
 * one event carrying the newest LSN.
 */
#include "services/writer/watch.h"

#include "common/log.h"

#include "bitdex/v1/writer.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- per-subscriber state ---- */

typedef struct sub_index {
    char *name;
    bool initial;      /* initial GenerationPublished / LsnAdvance not sent yet */
    uint64_t want_lsn; /* newest committed LSN known */
    uint64_t sent_lsn; /* last LsnAdvance sent */
    bool gen_due;      /* a GenerationPublished is due */
    uint64_t gen, gen_lsn;
    char *gen_path;
} sub_index_t;

typedef struct change {
    struct change *next;
    char *index;
    watch_change_t kind;
} change_t;

typedef struct sub {
    struct sub *prev, *next;
    watch_t *hub;
    rpc_call_t *call; /* NULL once released by the rpc layer */
    char *reader_id, *peer;
    int64_t connected_unix_ms;
    uint32_t heartbeat_ms;
    bool follow_all;
    sub_index_t *ix;
    size_t n, cap;
    size_t rr; /* round-robin start among indexes, so a busy index cannot starve the others */
    change_t *ch_head, *ch_tail;
    bool inflight; /* one message on the wire */
    bool ended;    /* finished by the hub or dead */
    int64_t last_send_ms;
} sub_t;

/* Newest state of one index as the hub knows it (under mu), or as the commit reported it (nmu). */
typedef struct known {
    char *name;
    uint64_t lsn;
    bool dirty; /* nmu table: not yet moved to the subscribers */
    uint64_t gen, gen_lsn;
    char *gen_path;
} known_t;

typedef struct table {
    known_t *e;
    size_t n, cap;
} table_t;

struct watch {
    pthread_mutex_t mu; /* subscribers, `known`, stopped */
    sub_t *head, *tail;
    size_t nsubs;
    table_t known;
    bool stopped;

    pthread_mutex_t nmu; /* `pending`, dirty, quit, next_wake_ms */
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    table_t pending;
    bool dirty, quit;
    int64_t next_wake_ms;
    pthread_t thread;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t unix_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- tables ---- */

static known_t *table_find(table_t *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].name, name) == 0)
            return &t->e[i];
    return NULL;
}

/* The entry of `name`, added (zeroed) if missing; NULL when out of memory. */
static known_t *table_get(table_t *t, const char *name)
{
    known_t *k = table_find(t, name);

    if (k != NULL)
        return k;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        known_t *e = realloc(t->e, cap * sizeof(*e));
        if (e == NULL)
            return NULL;
        t->e = e;
        t->cap = cap;
    }
    k = &t->e[t->n];
    memset(k, 0, sizeof(*k));
    if ((k->name = strdup(name)) == NULL)
        return NULL;
    t->n++;
    return k;
}

static void table_remove(table_t *t, const char *name)
{
    known_t *k = table_find(t, name);

    if (k == NULL)
        return;
    free(k->name);
    free(k->gen_path);
    *k = t->e[--t->n];
}

static void table_free(table_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->e[i].name);
        free(t->e[i].gen_path);
    }
    free(t->e);
    memset(t, 0, sizeof(*t));
}

/* ---- subscribers ---- */

static sub_index_t *sub_find(sub_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ix[i].name, name) == 0)
            return &s->ix[i];
    return NULL;
}

static sub_index_t *sub_add_index(sub_t *s, const char *name)
{
    sub_index_t *x;

    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        sub_index_t *ix = realloc(s->ix, cap * sizeof(*ix));
        if (ix == NULL)
            return NULL;
        s->ix = ix;
        s->cap = cap;
    }
    x = &s->ix[s->n];
    memset(x, 0, sizeof(*x));
    if ((x->name = strdup(name)) == NULL)
        return NULL;
    s->n++;
    return x;
}

/* Sets a due generation on `x` (path copied); false when out of memory. */
static bool set_gen(sub_index_t *x, uint64_t gen, uint64_t lsn, const char *path)
{
    char *p = strdup(path != NULL ? path : "");

    if (p == NULL)
        return false;
    free(x->gen_path);
    x->gen_path = p;
    x->gen = gen;
    x->gen_lsn = lsn;
    x->gen_due = true;
    if (lsn > x->want_lsn) /* the checkpoint LSN is committed: announce it first */
        x->want_lsn = lsn;
    return true;
}

static void sub_remove_index(sub_t *s, size_t i)
{
    free(s->ix[i].name);
    free(s->ix[i].gen_path);
    memmove(&s->ix[i], &s->ix[i + 1], (s->n - i - 1) * sizeof(*s->ix));
    s->n--;
    if (s->rr >= s->n)
        s->rr = 0;
}

static void sub_free(sub_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->ix[i].name);
        free(s->ix[i].gen_path);
    }
    while (s->ch_head != NULL) {
        change_t *c = s->ch_head;
        s->ch_head = c->next;
        free(c->index);
        free(c);
    }
    free(s->ix);
    free(s->reader_id);
    free(s->peer);
    free(s);
}

static void push_change(sub_t *s, const char *index, watch_change_t kind)
{
    change_t *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->index = strdup(index)) == NULL) {
        free(c);
        log_warn("watch", "index change not queued: out of memory", "reader=%s index=%s",
                 s->reader_id, index);
        return;
    }
    c->kind = kind;
    if (s->ch_tail != NULL)
        s->ch_tail->next = c;
    else
        s->ch_head = c;
    s->ch_tail = c;
}

/* ---- sending ---- */

static void on_sent(rpc_call_t *call, bool ok, void *arg);

/*
 * Fills `ev` with the next event due for `s` (pointers into s's state or `buf`s), updating the
 * state as if it was sent; false when nothing is due. Order: queued index changes; then the
 * initial events of the first index that still has some; then round robin over the indexes: an
 * LsnAdvance when due, else a due GenerationPublished.
 */
typedef struct event_buf {
    Bitdex__V1__WatchEvent ev;
    Bitdex__V1__LsnAdvance lsn;
    Bitdex__V1__GenerationPublished gen;
    Bitdex__V1__IndexChanged changed;
    Bitdex__V1__Heartbeat hb;
    change_t *change; /* popped change, freed after the send */
    char *gen_path;   /* taken from the index state, freed after the send */
} event_buf_t;

static void event_lsn(event_buf_t *b, sub_index_t *x)
{
    bitdex__v1__lsn_advance__init(&b->lsn);
    b->lsn.index = x->name;
    b->lsn.lsn = x->want_lsn;
    x->sent_lsn = x->want_lsn;
    b->ev.event_case = BITDEX__V1__WATCH_EVENT__EVENT_LSN_ADVANCE;
    b->ev.lsn_advance = &b->lsn;
}

static void event_gen(event_buf_t *b, sub_index_t *x)
{
    bitdex__v1__generation_published__init(&b->gen);
    b->gen.index = x->name;
    b->gen.generation = x->gen;
    b->gen.checkpoint_lsn = x->gen_lsn;
    b->gen_path = x->gen_path;
    x->gen_path = NULL;
    b->gen.path = b->gen_path;
    x->gen_due = false;
    b->ev.event_case = BITDEX__V1__WATCH_EVENT__EVENT_GENERATION_PUBLISHED;
    b->ev.generation_published = &b->gen;
}

static bool next_event(sub_t *s, event_buf_t *b)
{
    bitdex__v1__watch_event__init(&b->ev);
    if (s->ch_head != NULL) {
        b->change = s->ch_head;
        s->ch_head = b->change->next;
        if (s->ch_head == NULL)
            s->ch_tail = NULL;
        bitdex__v1__index_changed__init(&b->changed);
        b->changed.index = b->change->index;
        b->changed.kind = (Bitdex__V1__IndexChangeKind)b->change->kind;
        b->ev.event_case = BITDEX__V1__WATCH_EVENT__EVENT_INDEX_CHANGED;
        b->ev.index_changed = &b->changed;
        return true;
    }
    for (size_t i = 0; i < s->n; i++) {
        sub_index_t *x = &s->ix[i];
        if (!x->initial)
            continue;
        if (x->gen_due) {
            event_gen(b, x);
        } else {
            event_lsn(b, x);
            x->initial = false;
        }
        return true;
    }
    for (size_t k = 0; k < s->n; k++) {
        size_t i = (s->rr + k) % s->n;
        sub_index_t *x = &s->ix[i];
        if (x->want_lsn > x->sent_lsn)
            event_lsn(b, x);
        else if (x->gen_due)
            event_gen(b, x);
        else
            continue;
        s->rr = (i + 1) % s->n;
        return true;
    }
    return false;
}

/* Sends the next due event (or a heartbeat when idle for heartbeat_ms) unless one is on the
 * wire. Under hub->mu. */
static void pump(sub_t *s, int64_t now)
{
    event_buf_t b;
    int rc;

    if (s->inflight || s->ended || s->call == NULL)
        return;
    memset(&b, 0, sizeof(b));
    if (!next_event(s, &b)) {
        if (now - s->last_send_ms < (int64_t)s->heartbeat_ms)
            return;
        bitdex__v1__heartbeat__init(&b.hb);
        b.hb.writer_time_unix_ms = unix_ms();
        b.ev.event_case = BITDEX__V1__WATCH_EVENT__EVENT_HEARTBEAT;
        b.ev.heartbeat = &b.hb;
    }
    rc = rpc_call_send(s->call, &b.ev.base, on_sent, s);
    if (rc == 0) {
        s->inflight = true;
        s->last_send_ms = now;
    } else if (rc == BDX_ECANCELLED || rc == BDX_ESTATE) {
        s->ended = true; /* the release function will unlink it */
    } else {
        log_warn("watch", "event not sent", "reader=%s error=\"%s\"", s->reader_id,
                 bdx_strerror(rc));
    }
    if (b.change != NULL) {
        free(b.change->index);
        free(b.change);
    }
    free(b.gen_path);
}

/* Wakes the hub thread by `when` (monotonic ms) at the latest. Under hub->mu. */
static void schedule(watch_t *hub, int64_t when)
{
    pthread_mutex_lock(&hub->nmu);
    if (when < hub->next_wake_ms) {
        hub->next_wake_ms = when;
        pthread_cond_signal(&hub->wake);
    }
    pthread_mutex_unlock(&hub->nmu);
}

static void on_sent(rpc_call_t *call, bool ok, void *arg)
{
    sub_t *s = arg;
    watch_t *hub = s->hub;

    (void)call;
    pthread_mutex_lock(&hub->mu);
    s->inflight = false;
    if (!ok)
        s->ended = true;
    else
        pump(s, mono_ms());
    if (!s->inflight && !s->ended) /* idle now: its next heartbeat is due then */
        schedule(hub, s->last_send_ms + s->heartbeat_ms);
    pthread_mutex_unlock(&hub->mu);
}

/* rpc release function: the call is done; forget the subscriber. */
static void sub_release(void *data)
{
    sub_t *s = data;
    watch_t *hub = s->hub;

    pthread_mutex_lock(&hub->mu);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        hub->head = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    else
        hub->tail = s->prev;
    hub->nsubs--;
    pthread_mutex_unlock(&hub->mu);
    log_info("watch", "stream ended", "reader=%s peer=%s", s->reader_id, s->peer);
    sub_free(s);
}

/* ---- the hub thread ---- */

/* Moves `lsn` of `name` to the hub's table and every subscriber following it. Under mu. */
static void apply_lsn(watch_t *hub, const char *name, uint64_t lsn)
{
    known_t *k = table_get(&hub->known, name);

    if (k != NULL && lsn > k->lsn)
        k->lsn = lsn;
    for (sub_t *s = hub->head; s != NULL; s = s->next) {
        sub_index_t *x = sub_find(s, name);
        if (x != NULL && lsn > x->want_lsn)
            x->want_lsn = lsn;
    }
}

static void *hub_thread(void *arg)
{
    watch_t *hub = arg;
    table_t batch = {0};

    pthread_mutex_lock(&hub->nmu);
    while (!hub->quit) {
        if (!hub->dirty) {
            int64_t wake = hub->next_wake_ms;
            struct timespec until = {wake / 1000, (long)(wake % 1000) * 1000000L};
            pthread_cond_timedwait(&hub->wake, &hub->nmu, &until);
            if (hub->quit)
                break;
        }
        /* Take the new LSNs (swap tables: the commit keeps writing into the other one). */
        for (size_t i = 0; i < hub->pending.n; i++) {
            known_t *p = &hub->pending.e[i];
            if (!p->dirty)
                continue;
            known_t *k = table_get(&batch, p->name);
            if (k != NULL)
                k->lsn = p->lsn;
            p->dirty = false;
        }
        hub->dirty = false;
        pthread_mutex_unlock(&hub->nmu);

        pthread_mutex_lock(&hub->mu);
        int64_t now = mono_ms(), next = now + WATCH_HEARTBEAT_MAX_MS;
        for (size_t i = 0; i < batch.n; i++)
            apply_lsn(hub, batch.e[i].name, batch.e[i].lsn);
        for (sub_t *s = hub->head; s != NULL; s = s->next) {
            pump(s, now);
            if (!s->inflight && !s->ended && s->last_send_ms + s->heartbeat_ms < next)
                next = s->last_send_ms + s->heartbeat_ms;
        }
        /* Set under mu, so that an on_sent scheduling an earlier wake-up comes after it. */
        pthread_mutex_lock(&hub->nmu);
        hub->next_wake_ms = next > now ? next : now + 1;
        pthread_mutex_unlock(&hub->mu);
        for (size_t i = 0; i < batch.n; i++)
            free(batch.e[i].name);
        batch.n = 0;
    }
    pthread_mutex_unlock(&hub->nmu);
    table_free(&batch);
    return NULL;
}

/* ---- public ---- */

int watch_new(watch_t **out)
{
    watch_t *hub = calloc(1, sizeof(*hub));
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (hub == NULL)
        return -ENOMEM;
    pthread_mutex_init(&hub->mu, NULL);
    pthread_mutex_init(&hub->nmu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hub->wake, &ca);
    pthread_condattr_destroy(&ca);
    hub->next_wake_ms = mono_ms() + WATCH_HEARTBEAT_MAX_MS;
    if ((rc = -pthread_create(&hub->thread, NULL, hub_thread, hub)) != 0) {
        pthread_cond_destroy(&hub->wake);
        pthread_mutex_destroy(&hub->nmu);
        pthread_mutex_destroy(&hub->mu);
        free(hub);
        return rc;
    }
    *out = hub;
    return 0;
}

void watch_free(watch_t *hub)
{
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->nmu);
    hub->quit = true;
    pthread_cond_signal(&hub->wake);
    pthread_mutex_unlock(&hub->nmu);
    pthread_join(hub->thread, NULL);
    while (hub->head != NULL) { /* only if the server was not shut down: a caller bug */
        sub_t *s = hub->head;
        hub->head = s->next;
        sub_free(s);
    }
    table_free(&hub->known);
    table_free(&hub->pending);
    pthread_cond_destroy(&hub->wake);
    pthread_mutex_destroy(&hub->nmu);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}

void watch_lsn_advance(watch_t *hub, const char *index, uint64_t lsn)
{
    known_t *k;

    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->nmu);
    k = table_get(&hub->pending, index);
    if (k != NULL && lsn > k->lsn) {
        k->lsn = lsn;
        k->dirty = true;
        if (!hub->dirty) {
            hub->dirty = true;
            pthread_cond_signal(&hub->wake);
        }
    }
    pthread_mutex_unlock(&hub->nmu);
}

void watch_generation_published(watch_t *hub, const char *index, uint64_t gen,
                                uint64_t checkpoint_lsn, const char *path)
{
    int64_t now = mono_ms();
    known_t *k;

    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->mu);
    if ((k = table_get(&hub->known, index)) != NULL && gen > k->gen) {
        char *p = strdup(path != NULL ? path : "");
        if (p != NULL) {
            free(k->gen_path);
            k->gen_path = p;
            k->gen = gen;
            k->gen_lsn = checkpoint_lsn;
        }
        if (checkpoint_lsn > k->lsn)
            k->lsn = checkpoint_lsn;
    }
    for (sub_t *s = hub->head; s != NULL; s = s->next) {
        sub_index_t *x = sub_find(s, index);
        if (x == NULL || gen <= x->gen)
            continue;
        if (!set_gen(x, gen, checkpoint_lsn, path))
            log_warn("watch", "generation not queued: out of memory", "reader=%s index=%s",
                     s->reader_id, index);
        pump(s, now);
    }
    pthread_mutex_unlock(&hub->mu);
}

void watch_index_changed(watch_t *hub, const char *index, watch_change_t kind)
{
    int64_t now = mono_ms();

    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->mu);
    /* A re-created index starts its LSNs afresh: forget the old ones in both tables. */
    table_remove(&hub->known, index);
    pthread_mutex_lock(&hub->nmu);
    table_remove(&hub->pending, index);
    pthread_mutex_unlock(&hub->nmu);
    if (kind == WATCH_INDEX_CREATED)
        table_get(&hub->known, index);
    for (sub_t *s = hub->head; s != NULL; s = s->next) {
        sub_index_t *x = NULL;
        size_t i;
        for (i = 0; i < s->n; i++)
            if (strcmp(s->ix[i].name, index) == 0) {
                x = &s->ix[i];
                break;
            }
        if (kind == WATCH_INDEX_DROPPED && x != NULL) {
            sub_remove_index(s, i);
            push_change(s, index, kind);
        } else if (kind == WATCH_INDEX_CREATED && s->follow_all) {
            if (x == NULL && sub_add_index(s, index) == NULL)
                log_warn("watch", "created index not followed: out of memory", "reader=%s index=%s",
                         s->reader_id, index);
            push_change(s, index, kind);
        }
        pump(s, now);
    }
    pthread_mutex_unlock(&hub->mu);
}

void watch_stop(watch_t *hub)
{
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->mu);
    if (!hub->stopped)
        log_info("watch", "ending streams: writer stopping", "streams=%zu", hub->nsubs);
    hub->stopped = true;
    for (sub_t *s = hub->head; s != NULL; s = s->next) {
        if (s->call != NULL && !s->ended)
            rpc_call_finish(s->call, BDX_EUNAVAILABLE, "writer stopping");
        s->ended = true;
    }
    pthread_mutex_unlock(&hub->mu);
}

void watch_stop_hook(void *hub)
{
    watch_stop(hub);
}

int watch_subscribe(watch_t *hub, rpc_call_t *call, const watch_subscriber_t *sub,
                    const watch_start_t *start, size_t n, bdx_error_t *err)
{
    sub_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    s->hub = hub;
    s->call = call;
    s->heartbeat_ms = sub->heartbeat_ms;
    s->follow_all = sub->follow_all;
    s->connected_unix_ms = unix_ms();
    s->reader_id = strdup(sub->reader_id != NULL ? sub->reader_id : "");
    s->peer = rpc_call_peer(call);
    if (s->reader_id == NULL || s->peer == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        sub_index_t *x = sub_add_index(s, start[i].index);
        if (x == NULL)
            goto nomem;
        x->initial = true;
        x->want_lsn = start[i].committed_lsn;
        if (start[i].generation > 0 &&
            !set_gen(x, start[i].generation, start[i].checkpoint_lsn, start[i].gen_path))
            goto nomem;
    }

    pthread_mutex_lock(&hub->mu);
    if (hub->stopped) {
        pthread_mutex_unlock(&hub->mu);
        sub_free(s);
        return bdx_error_set(err, BDX_EUNAVAILABLE, "writer stopping");
    }
    /* What the hub learnt since the caller read the catalog is newer: take it. */
    for (size_t i = 0; i < s->n; i++) {
        sub_index_t *x = &s->ix[i];
        known_t *k = table_find(&hub->known, x->name);
        if (k == NULL)
            continue;
        if (k->lsn > x->want_lsn)
            x->want_lsn = k->lsn;
        if (k->gen > x->gen && !set_gen(x, k->gen, k->gen_lsn, k->gen_path))
            log_warn("watch", "generation not queued: out of memory", "index=%s", x->name);
    }
    /* Following every index: also those created after the caller listed them. */
    for (size_t i = 0; s->follow_all && i < hub->known.n; i++) {
        known_t *k = &hub->known.e[i];
        sub_index_t *x;
        if (sub_find(s, k->name) != NULL || (x = sub_add_index(s, k->name)) == NULL)
            continue;
        x->initial = true;
        x->want_lsn = k->lsn;
        if (k->gen > 0)
            set_gen(x, k->gen, k->gen_lsn, k->gen_path);
    }
    s->prev = hub->tail;
    if (hub->tail != NULL)
        hub->tail->next = s;
    else
        hub->head = s;
    hub->tail = s;
    hub->nsubs++;
    rpc_call_set_data(call, s, sub_release);
    s->last_send_ms = mono_ms();
    pump(s, s->last_send_ms);
    schedule(hub, s->last_send_ms + s->heartbeat_ms);
    pthread_mutex_unlock(&hub->mu);
    log_info("watch", "stream started", "reader=%s peer=%s indexes=%zu heartbeat_ms=%u",
             s->reader_id, s->peer, s->n, s->heartbeat_ms);
    return 0;
nomem:
    sub_free(s);
    return bdx_error_set(err, -ENOMEM, "out of memory");
}

int watch_watchers(watch_t *hub, const char *index, watch_watcher_t **out, size_t *n)
{
    watch_watcher_t *w = NULL;
    size_t k = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&hub->mu);
    if (hub->nsubs > 0 && (w = calloc(hub->nsubs, sizeof(*w))) == NULL)
        rc = -ENOMEM;
    for (sub_t *s = hub->head; rc == 0 && s != NULL; s = s->next) {
        sub_index_t *x = sub_find(s, index);
        if (x == NULL || s->ended)
            continue;
        w[k].reader_id = strdup(s->reader_id);
        w[k].peer = strdup(s->peer);
        w[k].sent_lsn = x->sent_lsn;
        w[k].connected_unix_ms = s->connected_unix_ms;
        k++;
        if (w[k - 1].reader_id == NULL || w[k - 1].peer == NULL)
            rc = -ENOMEM;
    }
    pthread_mutex_unlock(&hub->mu);
    if (rc != 0) {
        watch_watchers_free(w, k);
        return rc;
    }
    if (k == 0) {
        free(w);
        w = NULL;
    }
    *out = w;
    *n = k;
    return 0;
}

void watch_watchers_free(watch_watcher_t *w, size_t n)
{
    for (size_t i = 0; i < n && w != NULL; i++) {
        free(w[i].reader_id);
        free(w[i].peer);
    }
    free(w);
}

size_t watch_stream_count(watch_t *hub)
{
    size_t n;

    pthread_mutex_lock(&hub->mu);
    n = hub->nsubs;
    pthread_mutex_unlock(&hub->mu);
    return n;
}
