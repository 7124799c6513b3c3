/*
 * outbuf: buffered writer. Integers are formatted two digits at a time from a 200-byte table,
 * right to left into a scratch array, then copied.
 */
#include "bench/outbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

int outbuf_open(outbuf_t *o, const char *path)
{
    o->len = 0;
    o->err = 0;
    o->written = 0;
    o->buf = NULL;
    o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0)
        return o->err = -errno;
    o->buf = malloc(OUTBUF_SIZE);
    if (!o->buf) {
        close(o->fd);
        o->fd = -1;
        return o->err = -ENOMEM;
    }
    return 0;
}

void outbuf_flush(outbuf_t *o)
{
    size_t off = 0;
    while (off < o->len && o->err == 0) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            o->err = -errno;
            break;
        }
        off += (size_t)n;
    }
    o->written += off;
    o->len = 0;
}

int outbuf_close(outbuf_t *o)
{
    if (o->fd >= 0) {
        outbuf_flush(o);
        if (close(o->fd) != 0 && o->err == 0)
            o->err = -errno;
        o->fd = -1;
    }
    free(o->buf);
    o->buf = NULL;
    return o->err;
}

void outbuf_u64(outbuf_t *o, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    }
    if (v >= 10) {
        unsigned d = (unsigned)v * 2;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    } else {
        *--p = (char)('0' + v);
    }
    outbuf_mem(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

void outbuf_printf(outbuf_t *o, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (o->err == 0)
            o->err = -EINVAL;
        return;
    }
    if ((size_t)n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    outbuf_mem(o, tmp, (size_t)n);
}
