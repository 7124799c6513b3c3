/*
 * dictionary: string <-> dense int64 key, for string filter fields.
 *
 * Strings are copied into chunks that never move (so dictionary_string() pointers stay valid as
 * the dictionary grows); keys index an array of those pointers; an open-addressing table of
 * (key + 1, 32 bits of the XXH3 hash) finds a string's key. Nothing is ever removed.
 */
#include "common/dictionary.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"

#define CHUNK_MIN (64 * 1024)

typedef struct slot {
    uint32_t key1; /* key + 1; 0 = empty */
    uint32_t hash; /* low 32 bits of the string's hash */
} slot_t;

typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    char data[];
} chunk_t;

struct dictionary {
    char **strings; /* key -> string, borrowed from the chunks */
    uint32_t count, cap;
    slot_t *table; /* power-of-two size, at most 1/2 full */
    uint32_t mask;
    chunk_t *chunks; /* newest first */
    size_t chunk_bytes;
};

int dictionary_new(dictionary_t **out)
{
    dictionary_t *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (d == NULL)
        return -ENOMEM;
    d->table = calloc(16, sizeof(*d->table));
    if (d->table == NULL) {
        free(d);
        return -ENOMEM;
    }
    d->mask = 15;
    *out = d;
    return 0;
}

void dictionary_free(dictionary_t *d)
{
    chunk_t *c, *next;

    if (d == NULL)
        return;
    for (c = d->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(d->strings);
    free(d->table);
    free(d);
}

static uint64_t hash_of(const char *s, size_t len)
{
    return XXH3_64bits(s, len);
}

/* Table position of `s`, or of the empty slot where it would go. */
static uint32_t probe(const dictionary_t *d, const char *s, size_t len, uint32_t h)
{
    uint32_t i = h & d->mask;

    for (;;) {
        const slot_t *e = &d->table[i];
        if (e->key1 == 0)
            return i;
        if (e->hash == h) {
            const char *t = d->strings[e->key1 - 1];
            if (strncmp(t, s, len) == 0 && t[len] == '\0')
                return i;
        }
        i = (i + 1) & d->mask;
    }
}

int dictionary_lookup(const dictionary_t *d, const char *s, int64_t *key)
{
    size_t len = strlen(s);
    uint32_t i = probe(d, s, len, (uint32_t)hash_of(s, len));

    if (d->table[i].key1 == 0)
        return BDX_ENOTFOUND;
    *key = (int64_t)d->table[i].key1 - 1;
    return 0;
}

static int grow_table(dictionary_t *d)
{
    uint32_t size = (d->mask + 1) * 2;
    slot_t *t = calloc(size, sizeof(*t));

    if (t == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i <= d->mask; i++) {
        slot_t e = d->table[i];
        uint32_t j;
        if (e.key1 == 0)
            continue;
        for (j = e.hash & (size - 1); t[j].key1 != 0; j = (j + 1) & (size - 1))
            ;
        t[j] = e;
    }
    free(d->table);
    d->table = t;
    d->mask = size - 1;
    return 0;
}

static char *store(dictionary_t *d, const char *s, size_t len)
{
    chunk_t *c = d->chunks;
    char *p;

    if (c == NULL || c->size - c->used < len + 1) {
        size_t size = len + 1 > CHUNK_MIN ? len + 1 : CHUNK_MIN;
        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->used = 0;
        c->next = d->chunks;
        d->chunks = c;
        d->chunk_bytes += sizeof(*c) + size;
    }
    p = c->data + c->used;
    memcpy(p, s, len + 1);
    c->used += len + 1;
    return p;
}

int dictionary_intern(dictionary_t *d, const char *s, int64_t *key)
{
    size_t len = strlen(s);
    uint32_t h = (uint32_t)hash_of(s, len);
    uint32_t i = probe(d, s, len, h);
    char *copy;

    if (d->table[i].key1 != 0) {
        *key = (int64_t)d->table[i].key1 - 1;
        return 0;
    }
    if (d->count == UINT32_MAX - 1)
        return -ENOMEM;
    if (d->count == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 16;
        char **n = realloc(d->strings, (size_t)cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        d->strings = n;
        d->cap = cap;
    }
    if ((uint64_t)(d->count + 1) * 2 > (uint64_t)d->mask + 1) {
        if (grow_table(d) != 0)
            return -ENOMEM;
        i = probe(d, s, len, h);
    }
    copy = store(d, s, len);
    if (copy == NULL)
        return -ENOMEM;
    d->strings[d->count] = copy;
    d->table[i].key1 = d->count + 1;
    d->table[i].hash = h;
    *key = d->count++;
    return 0;
}

const char *dictionary_string(const dictionary_t *d, int64_t key)
{
    if (key < 0 || key >= (int64_t)d->count)
        return NULL;
    return d->strings[key];
}

int64_t dictionary_count(const dictionary_t *d)
{
    return d->count;
}

size_t dictionary_memory(const dictionary_t *d)
{
    return sizeof(*d) + (size_t)d->cap * sizeof(char *) + ((size_t)d->mask + 1) * sizeof(slot_t) +
           d->chunk_bytes;
}
