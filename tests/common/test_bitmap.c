/* Tests common/bitmap.c: slot kinds, copy-on-write over frozen views, multi-bitmap ops. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bitmap.h"
#include "common/error.h"

static uint64_t seed, rng;

static void seed_init(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    seed = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng = seed;
}

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#define SEEDFMT "seed=%llu (rerun with BITDEX_TEST_SEED=%llu)"
#define SEEDARG (unsigned long long)seed, (unsigned long long)seed

/* A frozen copy of rb in a 32-byte aligned buffer (caller frees *buf). */
static size_t freeze(const roaring_bitmap_t *rb, char **buf)
{
    size_t n = bitmap_freeze_size(rb);
    *buf = aligned_alloc(BITMAP_FROZEN_ALIGN, (n + 31) / 32 * 32);
    cr_assert_not_null(*buf);
    bitmap_freeze_to(rb, *buf);
    return n;
}

Test(bitmap, empty_slot)
{
    bitmap_t b = BITMAP_INIT;
    roaring_bitmap_t *rb;

    cr_assert_null(bitmap_get(&b));
    cr_assert_eq(bitmap_count(bitmap_get(&b)), 0);
    cr_assert_eq(bitmap_memory(&b), 0);
    rb = bitmap_mut(&b);
    cr_assert_not_null(rb);
    cr_assert(bitmap_is_owned(&b));
    roaring_bitmap_add(rb, 7);
    cr_assert_eq(bitmap_count(bitmap_get(&b)), 1);
    cr_assert_eq(bitmap_mut(&b), rb, "an owned bitmap is written in place");
    bitmap_release(&b);
    cr_assert_null(bitmap_get(&b));
    bitmap_release(&b); /* twice is fine */
    bitmap_free_roaring(NULL);
}

Test(bitmap, copy_on_write_over_frozen_view)
{
    roaring_bitmap_t *src = roaring_bitmap_create();
    bitmap_t b = BITMAP_INIT;
    char *buf, *snapshot;
    size_t n;
    roaring_bitmap_t *w;

    for (uint32_t i = 0; i < 200000; i += 3)
        roaring_bitmap_add(src, i);
    roaring_bitmap_add_range(src, 300000, 310000);
    roaring_bitmap_run_optimize(src);
    n = freeze(src, &buf);
    snapshot = malloc(n);
    memcpy(snapshot, buf, n);

    cr_assert_eq(bitmap_set_view(&b, buf, n), 0);
    cr_assert_eq(b.kind, BITMAP_VIEW);
    cr_assert(!bitmap_is_owned(&b));
    cr_assert(roaring_bitmap_equals(bitmap_get(&b), src));
    cr_assert_gt(bitmap_memory(&b), 0);

    w = bitmap_mut(&b); /* first write: copy */
    cr_assert_not_null(w);
    cr_assert(bitmap_is_owned(&b));
    roaring_bitmap_add(w, 1);
    roaring_bitmap_remove(w, 0);
    roaring_bitmap_remove_range(w, 300000, 305000);
    cr_assert(roaring_bitmap_contains(bitmap_get(&b), 1));
    cr_assert(!roaring_bitmap_contains(bitmap_get(&b), 0));
    cr_assert_eq(memcmp(buf, snapshot, n), 0, "the frozen buffer must be untouched");

    /* the buffer still decodes to the original */
    {
        const roaring_bitmap_t *v;
        cr_assert_eq(bitmap_view(buf, n, &v), 0);
        cr_assert(roaring_bitmap_equals(v, src));
        bitmap_view_free(v);
    }
    bitmap_release(&b);
    free(buf);
    free(snapshot);
    roaring_bitmap_free(src);
}

Test(bitmap, view_rejects_misaligned_and_short)
{
    roaring_bitmap_t *src = roaring_bitmap_of(3, 1, 2, 3);
    char *buf, *odd;
    size_t n = freeze(src, &buf);
    const roaring_bitmap_t *v;
    bitmap_t b = BITMAP_INIT;

    odd = aligned_alloc(32, (n + 1 + 31) / 32 * 32 + 32);
    memcpy(odd + 1, buf, n);
    cr_assert_eq(bitmap_view(odd + 1, n, &v), BDX_ECORRUPT);
    cr_assert_null(v);
    cr_assert_eq(bitmap_view(buf, n - 1, &v), BDX_ECORRUPT);
    cr_assert_eq(bitmap_view(NULL, 0, &v), BDX_ECORRUPT);
    cr_assert_eq(bitmap_set_view(&b, odd + 1, n), BDX_ECORRUPT);
    cr_assert_null(bitmap_get(&b));
    /* an empty bitmap freezes too */
    {
        char *e;
        size_t en = freeze(NULL, &e);
        cr_assert_eq(bitmap_set_view(&b, e, en), 0);
        cr_assert_eq(bitmap_count(bitmap_get(&b)), 0);
        bitmap_release(&b);
        free(e);
    }
    free(odd);
    free(buf);
    roaring_bitmap_free(src);
}

Test(bitmap, borrow_and_adopt)
{
    roaring_bitmap_t *shared = roaring_bitmap_of(2, 10, 20);
    bitmap_t b = BITMAP_INIT;
    roaring_bitmap_t *w;

    bitmap_borrow(&b, shared);
    cr_assert_eq(b.kind, BITMAP_BORROWED);
    cr_assert_eq(bitmap_memory(&b), 0);
    w = bitmap_mut(&b);
    cr_assert_neq(w, shared);
    roaring_bitmap_add(w, 30);
    cr_assert_eq(roaring_bitmap_get_cardinality(shared), 2, "borrowed bitmap untouched");
    bitmap_release(&b); /* frees the copy, not `shared` */
    bitmap_adopt(&b, shared);
    cr_assert(bitmap_is_owned(&b));
    bitmap_adopt(&b, NULL);
    cr_assert_eq(b.kind, BITMAP_EMPTY);
}

static roaring_bitmap_t *random_bitmap(uint32_t range, unsigned density_pct)
{
    roaring_bitmap_t *r = roaring_bitmap_create();
    for (uint32_t i = 0; i < range; i++)
        if (rnd() % 100 < density_pct)
            roaring_bitmap_add(r, i);
    return r;
}

Test(bitmap, and_or_many_vs_pairwise)
{
    enum {
        N = 6
    };
    roaring_bitmap_t *in[N], *out = roaring_bitmap_create(), *want;
    const roaring_bitmap_t *cin[N + 1];

    seed_init();
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            in[i] = random_bitmap(200000, 30 + (unsigned)(rnd() % 70));
            cin[i] = in[i];
        }
        for (size_t n = 1; n <= N; n++) {
            want = roaring_bitmap_copy(in[0]);
            for (size_t i = 1; i < n; i++)
                roaring_bitmap_and_inplace(want, in[i]);
            roaring_bitmap_add(out, 999999);
            cr_assert_eq(bitmap_and_many(cin, n, out), 0);
            cr_assert(roaring_bitmap_equals(out, want), "and n=%zu " SEEDFMT, n, SEEDARG);
            cr_assert_eq(bitmap_and_many_count(cin, n), roaring_bitmap_get_cardinality(want),
                         "count n=%zu " SEEDFMT, n, SEEDARG);
            {
                roaring_bitmap_t *acc = roaring_bitmap_copy(in[0]);
                bitmap_and_many_inplace(acc, cin + 1, n - 1);
                cr_assert(roaring_bitmap_equals(acc, want), "inplace n=%zu " SEEDFMT, n, SEEDARG);
                roaring_bitmap_free(acc);
            }
            roaring_bitmap_free(want);

            want = roaring_bitmap_create();
            for (size_t i = 0; i < n; i++)
                roaring_bitmap_or_inplace(want, in[i]);
            cr_assert_eq(bitmap_or_many(cin, n, out), 0);
            cr_assert(roaring_bitmap_equals(out, want), "or n=%zu " SEEDFMT, n, SEEDARG);
            roaring_bitmap_free(want);
        }
        for (int i = 0; i < N; i++)
            roaring_bitmap_free(in[i]);
    }
    /* NULL entries are empty */
    cin[0] = NULL;
    cin[1] = out;
    {
        roaring_bitmap_t *o2 = roaring_bitmap_create();
        roaring_bitmap_t *acc = roaring_bitmap_of(1, 5);
        cr_assert_eq(bitmap_and_many(cin, 2, o2), 0);
        cr_assert(roaring_bitmap_is_empty(o2));
        cr_assert_eq(bitmap_and_many_count(cin, 2), 0);
        bitmap_and_many_inplace(acc, cin, 1);
        cr_assert(roaring_bitmap_is_empty(acc));
        cr_assert_eq(bitmap_or_many(cin, 1, o2), 0);
        cr_assert(roaring_bitmap_is_empty(o2));
        cr_assert_eq(bitmap_and_many(cin, 0, o2), BDX_EINVAL);
        cr_assert_eq(bitmap_or_many(cin, 0, o2), 0);
        roaring_bitmap_free(acc);
        roaring_bitmap_free(o2);
    }
    roaring_bitmap_free(out);
}

/* ---- frozen slots in an arena ---- */

#include <pthread.h>

#include "common/frozen.h"

Test(bitmap, frozen_slot_reads_lazily_and_copies_on_write)
{
    roaring_bitmap_t *src = roaring_bitmap_create();
    bitmap_t b = BITMAP_INIT, e = BITMAP_INIT, moved = BITMAP_INIT;
    frozen_t *arena, *arena2;
    bitmap_usage_t u = {0};
    size_t need;
    char *snapshot;

    for (uint32_t i = 0; i < 100000; i += 7)
        roaring_bitmap_add(src, i);
    roaring_bitmap_add_range(src, 500000, 600000);
    roaring_bitmap_run_optimize(src);
    bitmap_adopt(&b, roaring_bitmap_copy(src));
    cr_assert_eq(bitmap_frozen_footprint(&e), 0, "an empty slot takes no arena bytes");
    need = bitmap_frozen_footprint(&b);
    cr_assert_eq(need % BITMAP_FROZEN_ALIGN, 0);
    cr_assert_geq(need, bitmap_freeze_size(src));
    cr_assert_eq(frozen_new(need, &arena), 0);
    cr_assert_eq(bitmap_freeze_into(&e, arena), 0);
    cr_assert_eq(e.kind, BITMAP_EMPTY);
    cr_assert_eq(bitmap_freeze_into(&b, arena), 0);
    cr_assert_eq(b.kind, BITMAP_FROZEN);
    cr_assert_eq(frozen_used(arena), need);
    cr_assert_eq(bitmap_freeze_into(&b, arena), BDX_EINVAL, "the arena is full");
    cr_assert_eq(b.kind, BITMAP_FROZEN, "a failed freeze leaves the slot alone");

    /* no view header until the first read; the read makes exactly one */
    bitmap_usage_add(&b, &u);
    cr_assert_eq(u.frozen, need);
    cr_assert_eq(u.view_count, 0);
    cr_assert(roaring_bitmap_equals(bitmap_get(&b), src));
    cr_assert_eq(bitmap_get(&b), bitmap_get(&b), "the header is made once and kept");
    memset(&u, 0, sizeof(u));
    bitmap_usage_add(&b, &u);
    cr_assert_eq(u.view_count, 1);
    cr_assert_eq(u.bytes, need + u.views);
    cr_assert_eq(bitmap_memory(&b), u.bytes);

    /* freezing a frozen slot again copies it into the new arena */
    cr_assert_eq(frozen_new(need, &arena2), 0);
    cr_assert_eq(bitmap_freeze_into(&b, arena2), 0);
    frozen_free(arena); /* nothing points into the old arena any more */
    cr_assert(roaring_bitmap_equals(bitmap_get(&b), src));

    /* the same bytes set up by hand (what a reader of a generation file does) */
    cr_assert_eq(bitmap_set_frozen(&moved, b.frozen, b.frozen_len), 0);
    cr_assert(roaring_bitmap_equals(bitmap_get(&moved), src));
    cr_assert_eq(bitmap_set_frozen(&moved, b.frozen, b.frozen_len - 1), BDX_ECORRUPT);
    cr_assert_null(bitmap_get(&moved));

    /* copy-on-write, from a slot with and without a view header */
    const char *bytes = b.frozen;
    size_t len = b.frozen_len;
    snapshot = malloc(len);
    memcpy(snapshot, bytes, len);
    cr_assert_eq(bitmap_set_frozen(&moved, b.frozen, b.frozen_len), 0);
    roaring_bitmap_add(bitmap_mut(&moved), 1);
    roaring_bitmap_remove(bitmap_mut(&b), 0);
    cr_assert(bitmap_is_owned(&b) && bitmap_is_owned(&moved));
    cr_assert(roaring_bitmap_contains(bitmap_get(&moved), 1));
    cr_assert(!roaring_bitmap_contains(bitmap_get(&b), 0));
    cr_assert(roaring_bitmap_contains(src, 0));
    cr_assert_eq(memcmp(snapshot, bytes, len), 0, "the arena bytes are never written");
    bitmap_release(&b);
    bitmap_release(&moved);
    frozen_free(arena2);
    free(snapshot);
    roaring_bitmap_free(src);
}

typedef struct reader_arg {
    const bitmap_t *slot;
    const roaring_bitmap_t *seen;
} reader_arg_t;

static void *read_frozen(void *arg)
{
    reader_arg_t *r = arg;
    r->seen = bitmap_get(r->slot);
    return NULL;
}

Test(bitmap, frozen_slot_first_reads_race_safely)
{
    enum {
        NTHREADS = 8,
        ROUNDS = 50
    };
    roaring_bitmap_t *src = roaring_bitmap_of(4, 3, 70000, 140000, 1u << 31);
    bitmap_t b = BITMAP_INIT;
    frozen_t *arena;

    for (int round = 0; round < ROUNDS; round++) {
        pthread_t t[NTHREADS];
        reader_arg_t r[NTHREADS];
        bitmap_adopt(&b, roaring_bitmap_copy(src));
        cr_assert_eq(frozen_new(bitmap_frozen_footprint(&b), &arena), 0);
        cr_assert_eq(bitmap_freeze_into(&b, arena), 0);
        for (int i = 0; i < NTHREADS; i++) {
            r[i].slot = &b;
            cr_assert_eq(pthread_create(&t[i], NULL, read_frozen, &r[i]), 0);
        }
        for (int i = 0; i < NTHREADS; i++) {
            cr_assert_eq(pthread_join(t[i], NULL), 0);
            cr_assert_eq(r[i].seen, r[0].seen, "every reader gets the one kept header");
        }
        cr_assert(roaring_bitmap_equals(r[0].seen, src));
        bitmap_release(&b); /* frees the one header; the losers freed theirs */
        frozen_free(arena);
    }
    roaring_bitmap_free(src);
}

/* bitmap_set_frozen_trusted(): O(1) checks only, the view on the first read, copy-on-write. */
Test(bitmap, frozen_trusted_checks_header_only)
{
    roaring_bitmap_t *rb = roaring_bitmap_create();
    bitmap_t slot = BITMAP_INIT;
    char *buf;
    size_t n;
    uint32_t containers;

    seed_init();
    for (int i = 0; i < 3000; i++)
        roaring_bitmap_add(rb, (uint32_t)(rnd() % 1000000));
    n = freeze(rb, &buf);
    cr_assert_eq(bitmap_frozen_containers(buf, n, &containers), 0);
    cr_assert_eq(containers, roaring_bitmap_get_cardinality(rb) > 0 ? 16 : 0);
    cr_assert_eq(bitmap_set_frozen_trusted(&slot, buf, n), 0);
    cr_assert_eq(slot.kind, BITMAP_FROZEN);
    cr_assert_null(atomic_load(&slot.rb), "no view made at set");
    cr_assert(roaring_bitmap_equals(bitmap_get(&slot), rb));
    roaring_bitmap_add(bitmap_mut(&slot), 5000001);
    cr_assert(bitmap_is_owned(&slot));
    cr_assert_eq(roaring_bitmap_get_cardinality(bitmap_get(&slot)),
                 roaring_bitmap_get_cardinality(rb) + 1);
    /* what the header shows is refused: misaligned, short, bad cookie, too many containers */
    cr_assert_eq(bitmap_set_frozen_trusted(&slot, buf + 1, n - 1), BDX_ECORRUPT);
    cr_assert_eq(slot.kind, BITMAP_EMPTY);
    cr_assert_eq(bitmap_set_frozen_trusted(&slot, buf, 3), BDX_ECORRUPT);
    cr_assert_eq(bitmap_set_frozen_trusted(&slot, buf, n - 1), BDX_ECORRUPT);
    cr_assert_eq(bitmap_set_frozen_trusted(&slot, buf, 8), BDX_ECORRUPT);
    bitmap_release(&slot);
    free(buf);
    bitmap_free_roaring(rb);
}
