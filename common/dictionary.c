/*
 * dictionary: string <-> dense int64 key, for string filter fields.
 *
 * Strings are copied into chunks that never move (so dictionary_string() pointers stay valid as
 * the dictionary grows); keys index an array of those pointers; an open-addressing table of
 * (key + 1, 32 bits of the XXH3 hash) finds a string's key. Nothing is ever removed. A
 * dictionary opened from an image points its first keys into the image instead of chunks; the
 * rest of the code cannot tell the difference.
 */
#include "common/dictionary.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"

#define CHUNK_MIN (64 * 1024)

/* Image integers are stored little-endian and read in place. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "dictionary images need a little-endian host");

#define IMAGE_MAGIC "BDXDIC\0\0"
#define IMAGE_VERSION 1u
#define IMAGE_HEADER 32u
#define IMAGE_ALIGN 32u

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
    uint64_t string_bytes; /* sum of strlen + 1 over all strings (the image's byte array) */
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
    d->string_bytes += len + 1;
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

static size_t align_up(size_t n)
{
    return (n + IMAGE_ALIGN - 1) & ~(size_t)(IMAGE_ALIGN - 1);
}

size_t dictionary_image_size(const dictionary_t *d)
{
    return IMAGE_HEADER + align_up(((size_t)d->count + 1) * sizeof(uint64_t)) +
           align_up((size_t)d->string_bytes);
}

void dictionary_image_write(const dictionary_t *d, void *buf)
{
    unsigned char *b = buf;
    uint32_t version = IMAGE_VERSION;
    size_t offsets = ((size_t)d->count + 1) * sizeof(uint64_t);
    unsigned char *blob = b + IMAGE_HEADER + align_up(offsets);
    uint64_t off = 0;

    memset(b, 0, IMAGE_HEADER);
    memcpy(b, IMAGE_MAGIC, 8);
    memcpy(b + 8, &version, 4);
    memcpy(b + 12, &d->count, 4);
    memcpy(b + 16, &d->string_bytes, 8);
    for (uint32_t k = 0; k < d->count; k++) {
        size_t n = strlen(d->strings[k]) + 1;
        memcpy(b + IMAGE_HEADER + (size_t)k * sizeof(uint64_t), &off, 8);
        memcpy(blob + off, d->strings[k], n);
        off += n;
    }
    memcpy(b + IMAGE_HEADER + (size_t)d->count * sizeof(uint64_t), &off, 8);
    memset(b + IMAGE_HEADER + offsets, 0, align_up(offsets) - offsets);
    memset(blob + off, 0, align_up((size_t)off) - (size_t)off);
}

/* Fills d's key array and lookup table from the validated header fields; checks each string. */
static int image_load(dictionary_t *d, const uint64_t *offsets, const char *blob, uint32_t count,
                      uint64_t bytes, bdx_error_t *err)
{
    uint32_t size = 16;

    while ((uint64_t)count * 2 > size)
        size *= 2;
    free(d->table);
    d->table = calloc(size, sizeof(*d->table));
    d->mask = size - 1;
    d->cap = count < 16 ? 16 : count;
    d->strings = malloc((size_t)d->cap * sizeof(*d->strings));
    if (d->table == NULL || d->strings == NULL)
        return bdx_error_set(err, -ENOMEM, "dictionary image: out of memory");
    if (offsets[0] != 0 || offsets[count] != bytes)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "dictionary image: offsets span [%llu, %llu), strings are %llu bytes",
                             (unsigned long long)offsets[0], (unsigned long long)offsets[count],
                             (unsigned long long)bytes);
    for (uint32_t k = 0; k < count; k++) {
        uint64_t start = offsets[k], end = offsets[k + 1];
        const char *s = blob + start;
        size_t len;
        uint32_t h, i;

        /* start < end <= bytes: offsets[count] == bytes and offsets increase. */
        if (end <= start || end > bytes)
            return bdx_error_set(
                err, BDX_ECORRUPT, "dictionary image: string %u at [%llu, %llu) of %llu bytes", k,
                (unsigned long long)start, (unsigned long long)end, (unsigned long long)bytes);
        len = (size_t)(end - start - 1);
        if (memchr(s, '\0', len + 1) != s + len)
            return bdx_error_set(err, BDX_ECORRUPT,
                                 "dictionary image: string %u (offset %llu) is not %zu bytes + NUL",
                                 k, (unsigned long long)start, len);
        h = (uint32_t)hash_of(s, len);
        i = probe(d, s, len, h);
        if (d->table[i].key1 != 0)
            return bdx_error_set(err, BDX_ECORRUPT, "dictionary image: string %u repeats string %u",
                                 k, d->table[i].key1 - 1);
        /* Borrowed: never written (dictionary strings are never modified). */
        d->strings[k] = (char *)s;
        d->table[i].key1 = k + 1;
        d->table[i].hash = h;
        d->count = k + 1;
    }
    d->string_bytes = bytes;
    return 0;
}

int dictionary_image_open(const void *buf, size_t size, dictionary_t **out, bdx_error_t *err)
{
    const unsigned char *b = buf;
    uint32_t version, count;
    uint64_t bytes;
    size_t offsets;
    dictionary_t *d;
    int rc;

    *out = NULL;
    if (((uintptr_t)buf & (IMAGE_ALIGN - 1)) != 0)
        return bdx_error_set(err, BDX_EINVAL, "dictionary image: buffer not %u-byte aligned",
                             IMAGE_ALIGN);
    if (size < IMAGE_HEADER)
        return bdx_error_set(err, BDX_ECORRUPT, "dictionary image: %zu bytes, header needs %u",
                             size, IMAGE_HEADER);
    if (memcmp(b, IMAGE_MAGIC, 8) != 0)
        return bdx_error_set(err, BDX_ECORRUPT, "dictionary image: bad magic");
    memcpy(&version, b + 8, 4);
    if (version != IMAGE_VERSION)
        return bdx_error_set(err, BDX_EVERSION, "dictionary image: version %u, this build reads %u",
                             version, IMAGE_VERSION);
    memcpy(&count, b + 12, 4);
    memcpy(&bytes, b + 16, 8);
    /* The lookup table (uint32_t size, at most half full) caps a dictionary below 2^31. */
    if (count >= UINT32_C(1) << 31)
        return bdx_error_set(err, BDX_ECORRUPT, "dictionary image: count %u", count);
    offsets = align_up(((size_t)count + 1) * sizeof(uint64_t));
    if (offsets > size - IMAGE_HEADER || bytes > size - IMAGE_HEADER - offsets ||
        align_up((size_t)bytes) > size - IMAGE_HEADER - offsets)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "dictionary image: %u strings of %llu bytes exceed the %zu-byte image",
                             count, (unsigned long long)bytes, size);
    if ((rc = dictionary_new(&d)) != 0)
        return bdx_error_set(err, rc, "dictionary image: out of memory");
    rc = image_load(d, (const uint64_t *)(b + IMAGE_HEADER),
                    (const char *)(b + IMAGE_HEADER + offsets), count, bytes, err);
    if (rc != 0) {
        dictionary_free(d);
        return rc;
    }
    *out = d;
    return 0;
}
