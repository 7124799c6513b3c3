/*
 * outbuf: a buffered, append-only file writer with fast integer formatting.
 *
 * The generator writes a few GB of CSV at 10M documents; stdio's printf per field is several
 * times slower than formatting digits by hand into a large buffer and issuing big write(2)s.
 * Errors are sticky: every append is void and outbuf_close() reports the first failure.
 *
 * Not thread-safe: one writer per outbuf_t.
 */
#ifndef BITDEX_BENCH_OUTBUF_H
#define BITDEX_BENCH_OUTBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define OUTBUF_SIZE (4u << 20)

typedef struct outbuf {
    int fd;
    int err; /* first error (-errno), sticky */
    size_t len;
    uint64_t written; /* bytes handed to write(2) so far */
    char *buf;        /* OUTBUF_SIZE bytes */
} outbuf_t;

/* Creates or truncates `path` (mode 0644). Returns 0 or -errno; close with outbuf_close(). */
int outbuf_open(outbuf_t *o, const char *path);

/* Flushes, fsyncs nothing, closes. Returns 0 or the first error seen. Safe after a failed open. */
int outbuf_close(outbuf_t *o);

/* Writes the buffered bytes out (called automatically when the buffer fills). */
void outbuf_flush(outbuf_t *o);

static inline void outbuf_reserve(outbuf_t *o, size_t n)
{
    if (o->len + n > OUTBUF_SIZE)
        outbuf_flush(o);
}

/* Appends `n` bytes (n ≤ OUTBUF_SIZE). */
static inline void outbuf_mem(outbuf_t *o, const void *p, size_t n)
{
    outbuf_reserve(o, n);
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static inline void outbuf_str(outbuf_t *o, const char *s)
{
    outbuf_mem(o, s, strlen(s));
}

static inline void outbuf_char(outbuf_t *o, char c)
{
    outbuf_reserve(o, 1);
    o->buf[o->len++] = c;
}

/* Appends the decimal digits of `v`. */
void outbuf_u64(outbuf_t *o, uint64_t v);

/* printf-style append for the rare non-hot-path line (at most 4 KiB per call). */
void outbuf_printf(outbuf_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
