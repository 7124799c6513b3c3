/*
 * generation_internal: the file container shared by the generation files (manifest, base,
 * delta) and the structures the generation_*.c files share. Private to common/generation*.c.
 *
 * Container (docs/format/generation.md): a 64-byte header, a table of contents of 32-byte
 * entries, then sections, each starting on a 32-byte boundary, zero padding in between and up
 * to the (32-byte aligned) end of the file. Little-endian, XXH3-64 checksums.
 */
#ifndef BITDEX_GENERATION_INTERNAL_H
#define BITDEX_GENERATION_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#include "common/error.h"
#include "common/generation.h"
#include "common/index_internal.h"
#include "common/slotstore.h"

#define GEN_MAGIC "BDXGEN\r\n"
#define GEN_VERSION 1u
#define GEN_HEADER_SIZE 64u
#define GEN_TOC_ENTRY_SIZE 32u
#define GEN_ALIGN 32u
#define GEN_MAX_SECTIONS 65536u

/* file kinds (header offset 12) */
enum {
    GEN_KIND_MANIFEST = 1,
    GEN_KIND_BASE = 2,
    GEN_KIND_DELTA = 3
};

/* section types (TOC entry offset 0) */
enum {
    GEN_SEC_MANIFEST = 1,     /* manifest: generation fields and the file list */
    GEN_SEC_SCHEMA = 2,       /* base: schema file image (schema_file.h) */
    GEN_SEC_BITMAP_DIR = 3,   /* base, delta: bitmap directory entries */
    GEN_SEC_BITMAPS = 4,      /* base, delta: the frozen bitmaps */
    GEN_SEC_COLUMN = 5,       /* base: arg = sort field */
    GEN_SEC_PERM = 6,         /* base, delta (rebuilt since the base): arg = sort field */
    GEN_SEC_DICT = 7,         /* base: all strings; delta: strings added; arg = filter field */
    GEN_SEC_DOCVALUES = 8,    /* slotstore image: base: every record; delta: touched slots' */
    GEN_SEC_TOUCHED = 9,      /* delta: frozen bitmap of the touched slots */
    GEN_SEC_SORT_VALUES = 10, /* delta: arg = sort field; column values of the touched slots */
    GEN_SEC_DOCSTORE = 11     /* slotstore image (base) / touched slots' blobs (delta) */
};

/* bitmap item kinds (directory entry offset 0); entries are sorted by (kind, field, key) */
enum {
    GEN_ITEM_ALIVE = 1,
    GEN_ITEM_VALUE = 2,  /* field = filter field, key = value key */
    GEN_ITEM_NULL = 3,   /* filter field */
    GEN_ITEM_EXISTS = 4, /* filter field */
    GEN_ITEM_BSI_EXISTS = 5,
    GEN_ITEM_BSI_SLICE = 6, /* sort field, key = bit */
    GEN_ITEM_DIRTY = 7,     /* sort field */
};

#define GEN_DIR_ENTRY_SIZE 32u
#define GEN_MANIFEST_FIXED 64u
#define GEN_MANIFEST_FILE 48u

/* A directory entry, decoded. Base: the bitmap at off (len_a bytes). Delta: the added bitmap
 * at off (len_a bytes, 0 = none), the removed one at off + align32(len_a) (len_r, 0 = none). */
typedef struct gen_item {
    uint16_t kind, field;
    int64_t key;
    uint64_t off;
    uint32_t len_a, len_r;
} gen_item_t;

typedef struct gen_section {
    uint32_t type, arg;
    uint64_t off, len, hash;
} gen_section_t;

/* One mapped container file. */
typedef struct gen_file {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint32_t kind;
    uint64_t number, base_id, header_hash;
    uint32_t nsec;
    gen_section_t *sec;
} gen_file_t;

/* What a delta materializes, built once per generation by the first generation_load() and
 * borrowed by every index loaded from it (generation_load.c). */
typedef struct gen_shared gen_shared_t;

struct generation {
    char *dir;
    int pin_fd; /* manifest fd holding LOCK_SH, or -1 */
    uint64_t number, lsn, base_number, base_id, doc_count;
    bool has_delta;
    bool verified;       /* opened with GENERATION_VERIFY: every section's checksum matched */
    gen_file_t files[2]; /* [0] base, [1] delta (when has_delta) */
    schema_t *schema;
    const uint8_t *schema_img;
    size_t schema_len;
    /* base bitmap directory (entries in the base mapping) */
    const uint8_t *base_dir;
    uint64_t base_items;
    const uint8_t *base_bitmaps;
    uint64_t base_bitmaps_len;
    /* delta generations: the shared materialization (NULL until the first load made it);
     * `shared_lock` serializes its construction between concurrent loads */
    pthread_mutex_t shared_lock;
    gen_shared_t *shared;
};

/* Frees a generation's shared materialization (generation_close()). NULL is a no-op. */
void gen_shared_free(gen_shared_t *sh);

/* ---- little-endian helpers ---- */
static inline void gen_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void gen_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void gen_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t gen_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t gen_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static inline uint64_t gen_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static inline uint64_t gen_align(uint64_t n)
{
    return (n + GEN_ALIGN - 1) & ~(uint64_t)(GEN_ALIGN - 1);
}

void gen_item_decode(const uint8_t *p, gen_item_t *it);
void gen_item_encode(uint8_t *p, const gen_item_t *it);
/* (kind, field, key) order: <0, 0, >0 */
int gen_item_cmp(unsigned k1, unsigned f1, int64_t key1, unsigned k2, unsigned f2, int64_t key2);

/* ---- container writer (generation_file.c) ---- */

typedef struct gen_writer {
    int fd;
    const char *path;
    uint32_t kind;
    uint64_t number, base_id;
    uint32_t nsec, cap;
    gen_section_t *sec;
    uint64_t pos; /* next file offset */
    uint8_t *buf;
    size_t buf_len;
    uint64_t buf_off; /* file offset of buf[0] */
    XXH3_state_t *xxh;
    bool in_section;
    char *scratch; /* 32-byte aligned, for gen_put_bitmap() */
    size_t scratch_cap;
} gen_writer_t;

/* Creates `path` for a file of `kind` with exactly `nsec` sections. 0 or -errno/-ENOMEM. */
int gen_writer_open(gen_writer_t *w, const char *path, uint32_t kind, uint64_t number,
                    uint64_t base_id, uint32_t nsec, bdx_error_t *err);
int gen_writer_begin(gen_writer_t *w, uint32_t type, uint32_t arg);
int gen_writer_put(gen_writer_t *w, const void *data, size_t len);
int gen_writer_end(gen_writer_t *w);
/* Writes the TOC and header, fsyncs and closes; *header_hash and *size for the manifest. */
int gen_writer_finish(gen_writer_t *w, uint64_t *header_hash, uint64_t *size, bdx_error_t *err);
/* Closes without finishing (error path); the caller deletes the file. */
void gen_writer_abort(gen_writer_t *w);

/* ---- container reader (generation_file.c) ---- */

/* Maps and checks `path` (header, TOC, layout; with verify every section checksum and the
 * zero padding). Expected kind; expect_hash (when nonzero) = the header hash the manifest
 * lists, expect_size likewise. 0, -errno, BDX_ECORRUPT, BDX_EVERSION. */
int gen_file_open(gen_file_t *f, const char *path, uint32_t kind, uint64_t expect_size,
                  uint64_t expect_hash, bool verify, bdx_error_t *err);
void gen_file_close(gen_file_t *f);
/* The first section of (type, arg), or NULL. */
const gen_section_t *gen_file_find(const gen_file_t *f, uint32_t type, uint32_t arg);
const char *gen_section_name(uint32_t type);

/* ---- shared between writers ---- */

/* Visitor over every bitmap of an index in (kind, field, key) order. Non-zero return stops
 * the walk and is returned by gen_walk_items(). */
typedef int (*gen_item_fn)(unsigned kind, unsigned field, int64_t key, const bitmap_t *slot,
                           void *arg);
int gen_walk_items(const index_t *ix, gen_item_fn fn, void *arg);
/* The same walk, except that each filter field's GEN_ITEM_VALUE items are left to
 * values(field, arg), called at their place in the order (values == NULL: visited as above). */
typedef int (*gen_values_fn)(unsigned field, void *arg);
int gen_walk_fields(const index_t *ix, gen_item_fn fn, gen_values_fn values, void *arg);

/* The bitmap slot of an item in `ix` (not for GEN_ITEM_VALUE), or NULL when out of range. */
bitmap_t *gen_item_slot(index_t *ix, unsigned kind, unsigned field, int64_t key);

/* Writes the image of a slotstore (docvalues records) as the current section's body. */
int gen_put_slots(gen_writer_t *w, const slotstore_t *ss);

/* Writes the bytes of a frozen bitmap (slot or roaring) to the current section. *len gets
 * the frozen length. */
int gen_put_bitmap(gen_writer_t *w, const bitmap_t *slot, const roaring_bitmap_t *rb,
                   uint32_t *len);

/* Section bodies: images of a column, permutation, dictionary (zero copy at load). */
int gen_put_column(gen_writer_t *w, const column_t *c);
int gen_put_perm(gen_writer_t *w, const permutation_t *p);
int gen_put_dict_image(gen_writer_t *w, const dictionary_t *d);

/* Delta dictionary sections: the strings with keys [from, count), and their load (interned;
 * the first key must be the dictionary's count). */
int gen_put_dict(gen_writer_t *w, const dictionary_t *d, int64_t from);
int gen_load_dict(dictionary_t *d, const uint8_t *p, uint64_t len, const char *what, int64_t *first,
                  bdx_error_t *err);

#endif
