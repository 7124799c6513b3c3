/*
 * valuemap: int64 value -> bitmap, with key order.
 *
 * Entries live in a dense array (so the hash table holds 4-byte entry numbers, not 24-byte
 * entries); the table is open addressing with linear probing and backward-shift deletion (no
 * tombstones). Key order is kept separately in sorted blocks of up to BLOCK_KEYS keys: a new
 * key costs a binary search over the blocks' first keys and a memmove inside one block, so a
 * million distinct values load in well under a second whatever their arrival order.
 */
#include "common/valuemap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bitmap.h"
#include "common/error.h"

#define BLOCK_KEYS 128

typedef struct entry {
    int64_t key;
    bitmap_t bm;
} entry_t;

typedef struct block {
    uint32_t n;
    int64_t keys[BLOCK_KEYS];
} block_t;

struct valuemap {
    entry_t *entries;
    uint32_t count, cap;
    uint32_t *table; /* entry number + 1; 0 = empty */
    unsigned log2;   /* table size = 1 << log2 */
    block_t **blocks;
    uint32_t nblocks, blocks_cap;
};

static uint32_t hash_pos(const valuemap_t *m, int64_t key)
{
    return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15ULL) >> (64 - m->log2));
}

int valuemap_new(valuemap_t **out)
{
    valuemap_t *m = calloc(1, sizeof(*m));

    *out = NULL;
    if (m == NULL)
        return -ENOMEM;
    m->log2 = 4;
    m->table = calloc((size_t)1 << m->log2, sizeof(*m->table));
    if (m->table == NULL) {
        free(m);
        return -ENOMEM;
    }
    *out = m;
    return 0;
}

void valuemap_free(valuemap_t *m)
{
    if (m == NULL)
        return;
    for (uint32_t i = 0; i < m->count; i++)
        bitmap_release(&m->entries[i].bm);
    for (uint32_t i = 0; i < m->nblocks; i++)
        free(m->blocks[i]);
    free(m->blocks);
    free(m->entries);
    free(m->table);
    free(m);
}

/* Table position holding `key`, or the empty position where it would go. */
static uint32_t find(const valuemap_t *m, int64_t key)
{
    uint32_t mask = ((uint32_t)1 << m->log2) - 1;
    uint32_t i = hash_pos(m, key);

    while (m->table[i] != 0 && m->entries[m->table[i] - 1].key != key)
        i = (i + 1) & mask;
    return i;
}

const roaring_bitmap_t *valuemap_get(const valuemap_t *m, int64_t key)
{
    uint32_t i = find(m, key);

    return m->table[i] != 0 ? bitmap_get(&m->entries[m->table[i] - 1].bm) : NULL;
}

uint64_t valuemap_count(const valuemap_t *m)
{
    return m->count;
}

static int grow_table(valuemap_t *m)
{
    unsigned old_log2 = m->log2;
    uint32_t *old = m->table;
    uint32_t mask;

    m->table = calloc((size_t)1 << (old_log2 + 1), sizeof(*m->table));
    if (m->table == NULL) {
        m->table = old;
        return -ENOMEM;
    }
    m->log2 = old_log2 + 1;
    mask = ((uint32_t)1 << m->log2) - 1;
    for (uint32_t e = 0; e < m->count; e++) {
        uint32_t i = hash_pos(m, m->entries[e].key);
        while (m->table[i] != 0)
            i = (i + 1) & mask;
        m->table[i] = e + 1;
    }
    free(old);
    return 0;
}

/* ---- key order ---- */

/* Index of the block that holds (or would hold) `key`: the last block whose first key <= key,
 * or 0. Requires nblocks > 0. */
static uint32_t block_for(const valuemap_t *m, int64_t key)
{
    uint32_t lo = 0, hi = m->nblocks;

    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->blocks[mid]->keys[0] <= key)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* First position in block b whose key is >= key. */
static uint32_t in_block(const block_t *b, int64_t key)
{
    uint32_t lo = 0, hi = b->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Inserts a new block pointer at position at. */
static int insert_block(valuemap_t *m, uint32_t at, block_t *b)
{
    if (m->nblocks == m->blocks_cap) {
        uint32_t cap = m->blocks_cap ? m->blocks_cap * 2 : 4;
        block_t **n = realloc(m->blocks, cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        m->blocks = n;
        m->blocks_cap = cap;
    }
    memmove(&m->blocks[at + 1], &m->blocks[at], (m->nblocks - at) * sizeof(*m->blocks));
    m->blocks[at] = b;
    m->nblocks++;
    return 0;
}

static int order_insert(valuemap_t *m, int64_t key)
{
    uint32_t bi, pos;
    block_t *b, *nb;

    if (m->nblocks == 0) {
        b = calloc(1, sizeof(*b));
        if (b == NULL || insert_block(m, 0, b) != 0) {
            free(b);
            return -ENOMEM;
        }
    }
    bi = block_for(m, key);
    b = m->blocks[bi];
    pos = in_block(b, key);
    if (b->n == BLOCK_KEYS) {
        nb = malloc(sizeof(*nb));
        if (nb == NULL)
            return -ENOMEM;
        if (bi == m->nblocks - 1 && pos == BLOCK_KEYS) {
            /* appending past the last key: start a fresh block (keeps ascending loads dense) */
            nb->n = 0;
        } else {
            /* split in halves */
            nb->n = BLOCK_KEYS / 2;
            memcpy(nb->keys, b->keys + BLOCK_KEYS / 2, sizeof(int64_t) * (BLOCK_KEYS / 2));
            b->n = BLOCK_KEYS / 2;
        }
        if (insert_block(m, bi + 1, nb) != 0) {
            /* undo the split */
            if (nb->n != 0) {
                memcpy(b->keys + BLOCK_KEYS / 2, nb->keys, sizeof(int64_t) * (BLOCK_KEYS / 2));
                b->n = BLOCK_KEYS;
            }
            free(nb);
            return -ENOMEM;
        }
        if (pos >= b->n) {
            pos -= b->n;
            b = nb;
        }
    }
    memmove(&b->keys[pos + 1], &b->keys[pos], (b->n - pos) * sizeof(int64_t));
    b->keys[pos] = key;
    b->n++;
    return 0;
}

static void order_remove(valuemap_t *m, int64_t key)
{
    uint32_t bi, pos;
    block_t *b;

    if (m->nblocks == 0)
        return;
    bi = block_for(m, key);
    b = m->blocks[bi];
    pos = in_block(b, key);
    if (pos >= b->n || b->keys[pos] != key)
        return;
    memmove(&b->keys[pos], &b->keys[pos + 1], (b->n - pos - 1) * sizeof(int64_t));
    b->n--;
    if (b->n == 0) {
        free(b);
        memmove(&m->blocks[bi], &m->blocks[bi + 1], (m->nblocks - bi - 1) * sizeof(*m->blocks));
        m->nblocks--;
    }
}

void valuemap_range(const valuemap_t *m, int64_t lo, int64_t hi, valuemap_fn fn, void *arg)
{
    uint32_t bi, pos;

    if (m->nblocks == 0 || lo > hi)
        return;
    bi = block_for(m, lo);
    pos = in_block(m->blocks[bi], lo);
    for (; bi < m->nblocks; bi++, pos = 0) {
        const block_t *b = m->blocks[bi];
        for (; pos < b->n; pos++) {
            if (b->keys[pos] > hi)
                return;
            if (!fn(b->keys[pos], valuemap_get(m, b->keys[pos]), arg))
                return;
        }
    }
}

/* ---- writes ---- */

int valuemap_add(valuemap_t *m, int64_t key, uint32_t slot)
{
    return valuemap_add_many(m, key, &slot, 1);
}

static int entry_for(valuemap_t *m, int64_t key, entry_t **out);

int valuemap_add_many(valuemap_t *m, int64_t key, const uint32_t *slots, size_t count)
{
    uint32_t i;
    entry_t *e;
    roaring_bitmap_t *rb;

    if (count == 0)
        return 0;
    if (m->table[i = find(m, key)] != 0) {
        if ((rb = bitmap_mut(&m->entries[m->table[i] - 1].bm)) == NULL)
            return -ENOMEM;
    } else { /* a new key: its bitmap first, so a failure changes nothing */
        if ((rb = roaring_bitmap_create()) == NULL)
            return -ENOMEM;
        if (entry_for(m, key, &e) != 0) {
            bitmap_free_roaring(rb);
            return -ENOMEM;
        }
        bitmap_adopt(&e->bm, rb);
    }
    if (count == 1)
        roaring_bitmap_add(rb, slots[0]);
    else
        roaring_bitmap_add_many(rb, count, slots);
    return 0;
}

/* Deletes the table position i (backward-shift, keeping every probe chain intact). */
static void table_delete(valuemap_t *m, uint32_t i)
{
    uint32_t mask = ((uint32_t)1 << m->log2) - 1;
    uint32_t j = i;

    for (;;) {
        uint32_t home;
        j = (j + 1) & mask;
        if (m->table[j] == 0)
            break;
        home = hash_pos(m, m->entries[m->table[j] - 1].key);
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->table[i] = m->table[j];
            i = j;
        }
    }
    m->table[i] = 0;
}

/* Drops the entry at table position i (key `key`). */
static void drop(valuemap_t *m, uint32_t i, int64_t key)
{
    uint32_t e = m->table[i] - 1, last;

    bitmap_release(&m->entries[e].bm);
    order_remove(m, key);
    table_delete(m, i);
    last = m->count - 1;
    if (e != last) {
        m->entries[e] = m->entries[last];
        m->table[find(m, m->entries[e].key)] = e + 1;
    }
    m->count--;
}

/* The entry of `key`, inserted with an empty slot when new. 0 or -ENOMEM (map unchanged). */
static int entry_for(valuemap_t *m, int64_t key, entry_t **out)
{
    uint32_t i = find(m, key);
    entry_t *e;

    if (m->table[i] != 0) {
        *out = &m->entries[m->table[i] - 1];
        return 0;
    }
    if (m->count == m->cap) {
        uint32_t cap = m->cap ? m->cap + m->cap / 2 : 8;
        entry_t *n = realloc(m->entries, (size_t)cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        m->entries = n;
        m->cap = cap;
    }
    if ((uint64_t)(m->count + 1) * 10 > ((uint64_t)1 << m->log2) * 7) {
        if (grow_table(m) != 0)
            return -ENOMEM;
        i = find(m, key);
    }
    if (order_insert(m, key) != 0)
        return -ENOMEM;
    e = &m->entries[m->count];
    e->key = key;
    bitmap_init(&e->bm);
    m->table[i] = ++m->count;
    *out = e;
    return 0;
}

int valuemap_set_frozen(valuemap_t *m, int64_t key, const char *buf, size_t len)
{
    const roaring_bitmap_t *view;
    entry_t *e;
    int rc;

    /* validate before inserting, so a bad buffer leaves the map unchanged */
    if ((rc = bitmap_view(buf, len, &view)) != 0)
        return rc;
    if (roaring_bitmap_is_empty(view)) {
        bitmap_view_free(view);
        return BDX_ECORRUPT; /* the map never holds an empty bitmap */
    }
    bitmap_view_free(view);
    if ((rc = entry_for(m, key, &e)) != 0)
        return rc;
    return bitmap_set_frozen(&e->bm, buf, len);
}

/* ---- bulk construction ---- */

/* Smallest log2 table size that keeps n keys at or under the 0.7 load factor of the adds. */
static unsigned table_log2_for(uint64_t n)
{
    unsigned log2 = 4;

    while ((n + 1) * 10 > ((uint64_t)1 << log2) * 7)
        log2++;
    return log2;
}

int valuemap_load_begin(valuemap_t *m, size_t n)
{
    entry_t *e;

    if (m->count != 0 || n > UINT32_MAX - 1)
        return BDX_EINVAL;
    if (n > m->cap) {
        if ((e = realloc(m->entries, n * sizeof(*e))) == NULL)
            return -ENOMEM;
        m->entries = e;
        m->cap = (uint32_t)n;
    }
    return 0;
}

/* Appends `key` (above every key) to the key order: the last block, or a fresh one. */
static int order_append(valuemap_t *m, int64_t key)
{
    block_t *b = m->nblocks > 0 ? m->blocks[m->nblocks - 1] : NULL;

    if (b == NULL || b->n == BLOCK_KEYS) {
        if ((b = malloc(sizeof(*b))) == NULL)
            return -ENOMEM;
        b->n = 0;
        if (insert_block(m, m->nblocks, b) != 0) {
            free(b);
            return -ENOMEM;
        }
    }
    b->keys[b->n++] = key;
    return 0;
}

int valuemap_load_frozen(valuemap_t *m, int64_t key, const char *buf, size_t len, bool trusted)
{
    entry_t *e;
    uint32_t containers;
    int rc;

    if (m->count > 0 && key <= m->entries[m->count - 1].key)
        return BDX_EINVAL;
    if (m->count == m->cap) {
        uint32_t cap = m->cap ? m->cap + m->cap / 2 : 8;
        if ((e = realloc(m->entries, (size_t)cap * sizeof(*e))) == NULL)
            return -ENOMEM;
        m->entries = e;
        m->cap = cap;
    }
    e = &m->entries[m->count];
    bitmap_init(&e->bm);
    if (trusted) {
        if ((rc = bitmap_frozen_containers(buf, len, &containers)) != 0)
            return rc;
        if (containers == 0)
            return BDX_ECORRUPT; /* the map never holds an empty bitmap */
        rc = bitmap_set_frozen_trusted(&e->bm, buf, len);
    } else {
        const roaring_bitmap_t *view;
        if ((rc = bitmap_view(buf, len, &view)) != 0)
            return rc;
        rc = roaring_bitmap_is_empty(view) ? BDX_ECORRUPT : 0;
        bitmap_view_free(view);
        if (rc == 0)
            rc = bitmap_set_frozen(&e->bm, buf, len);
    }
    if (rc != 0)
        return rc;
    if (order_append(m, key) != 0) {
        bitmap_release(&e->bm);
        return -ENOMEM;
    }
    e->key = key;
    m->count++;
    return 0;
}

int valuemap_load_end(valuemap_t *m)
{
    enum {
        AHEAD = 16
    }; /* table positions prefetched ahead of the insert */
    unsigned log2 = table_log2_for(m->count);
    uint32_t *table = calloc((size_t)1 << log2, sizeof(*table));
    uint32_t mask = ((uint32_t)1 << log2) - 1;

    if (table == NULL)
        return -ENOMEM;
    free(m->table);
    m->table = table;
    m->log2 = log2;
    /* Keys are distinct (strictly ascending): no key comparisons, only the probe for an empty
     * position; the table is far larger than the cache, so fetch positions ahead. */
    for (uint32_t e = 0; e < m->count; e++) {
        uint32_t i;
        if (e + AHEAD < m->count)
            __builtin_prefetch(&table[hash_pos(m, m->entries[e + AHEAD].key)], 1);
        i = hash_pos(m, m->entries[e].key);
        while (table[i] != 0)
            i = (i + 1) & mask;
        table[i] = e + 1;
    }
    return 0;
}

int valuemap_adopt(valuemap_t *m, int64_t key, roaring_bitmap_t *rb)
{
    entry_t *e;
    uint32_t i;

    if (rb == NULL || roaring_bitmap_is_empty(rb)) {
        bitmap_free_roaring(rb);
        i = find(m, key);
        if (m->table[i] != 0)
            drop(m, i, key);
        return 0;
    }
    if (entry_for(m, key, &e) != 0) {
        bitmap_free_roaring(rb);
        return -ENOMEM;
    }
    bitmap_adopt(&e->bm, rb);
    return 0;
}

int valuemap_borrow(valuemap_t *m, int64_t key, const roaring_bitmap_t *rb)
{
    entry_t *e;
    uint32_t i;

    if (rb == NULL || roaring_bitmap_is_empty(rb)) {
        i = find(m, key);
        if (m->table[i] != 0)
            drop(m, i, key);
        return 0;
    }
    if (entry_for(m, key, &e) != 0)
        return -ENOMEM;
    bitmap_borrow(&e->bm, rb);
    return 0;
}

const bitmap_t *valuemap_slot(const valuemap_t *m, int64_t key)
{
    uint32_t i = find(m, key);

    return m->table[i] != 0 ? &m->entries[m->table[i] - 1].bm : NULL;
}

void valuemap_visit(const valuemap_t *m, valuemap_slot_fn fn, void *arg)
{
    for (uint32_t bi = 0; bi < m->nblocks; bi++) {
        const block_t *b = m->blocks[bi];
        for (uint32_t pos = 0; pos < b->n; pos++)
            if (!fn(b->keys[pos], valuemap_slot(m, b->keys[pos]), arg))
                return;
    }
}

int valuemap_remove(valuemap_t *m, int64_t key, uint32_t slot)
{
    uint32_t i = find(m, key), e;
    roaring_bitmap_t *rb;

    if (m->table[i] == 0)
        return 0;
    e = m->table[i] - 1;
    if (!roaring_bitmap_contains(bitmap_get(&m->entries[e].bm), slot))
        return 0;
    if (roaring_bitmap_get_cardinality(bitmap_get(&m->entries[e].bm)) > 1) {
        rb = bitmap_mut(&m->entries[e].bm);
        if (rb == NULL)
            return -ENOMEM;
        roaring_bitmap_remove(rb, slot);
        return 0;
    }
    /* last slot: drop the key (entry array stays dense: the last entry moves into e) */
    drop(m, i, key);
    return 0;
}

void valuemap_optimize(valuemap_t *m)
{
    for (uint32_t i = 0; i < m->count; i++) {
        bitmap_t *b = &m->entries[i].bm;
        if (!bitmap_is_owned(b))
            continue;
        roaring_bitmap_run_optimize(b->rb);
        roaring_bitmap_shrink_to_fit(b->rb);
    }
    if (m->cap > m->count && m->count > 0) {
        entry_t *n = realloc(m->entries, (size_t)m->count * sizeof(*n));
        if (n != NULL) {
            m->entries = n;
            m->cap = m->count;
        }
    }
}

size_t valuemap_frozen_footprint(const valuemap_t *m)
{
    size_t n = 0;

    for (uint32_t i = 0; i < m->count; i++)
        n += bitmap_frozen_footprint(&m->entries[i].bm);
    return n;
}

int valuemap_freeze(valuemap_t *m, frozen_t *arena)
{
    int rc = 0;

    for (uint32_t i = 0; rc == 0 && i < m->count; i++)
        rc = bitmap_freeze_into(&m->entries[i].bm, arena);
    return rc;
}

size_t valuemap_memory(const valuemap_t *m, bitmap_usage_t *bitmaps)
{
    for (uint32_t i = 0; bitmaps != NULL && i < m->count; i++)
        bitmap_usage_add(&m->entries[i].bm, bitmaps);
    return sizeof(*m) + (size_t)m->cap * sizeof(entry_t) +
           ((size_t)1 << m->log2) * sizeof(uint32_t) + (size_t)m->nblocks * sizeof(block_t) +
           (size_t)m->blocks_cap * sizeof(block_t *);
}
