/*
 * log: logfmt records on a file descriptor, one write(2) each. See log.h.
 */
#include "common/log.h"

#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = LOG_INFO;
static atomic_int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

log_level_t log_get_level(void)
{
    return (log_level_t)atomic_load(&log_level);
}

void log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

int log_level_parse(const char *name, log_level_t *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (name && strcmp(name, level_names[i]) == 0) {
            *level = (log_level_t)i;
            return 0;
        }
    }
    return BDX_EINVAL;
}

static int needs_quotes(const char *s)
{
    if (*s == '\0')
        return 1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
            return 1;
    }
    return 0;
}

const char *log_quote(char *buf, size_t len, const char *s)
{
    size_t o = 0;
    if (len == 0)
        return buf;
    if (!s)
        s = "";
    if (!needs_quotes(s)) {
        snprintf(buf, len, "%s", s);
        return buf;
    }
    if (len < 3) {
        buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    /* Each step keeps room for the closing quote and the terminator. */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int pair = c == '"' || c == '\\' || c == '\n';
        if (o + (pair ? 2 : 1) + 2 > len)
            break;
        if (pair) {
            buf[o++] = '\\';
            buf[o++] = c == '\n' ? 'n' : (char)c;
        } else {
            buf[o++] = (c < ' ' || c == 0x7f) ? '?' : (char)c;
        }
    }
    if (o + 1 < len)
        buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void log_write(log_level_t level, const char *component, const char *msg, const char *kvfmt, ...)
{
    char line[2048];
    char qmsg[512];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int saved_errno = errno;

    if ((int)level < atomic_load(&log_level) || (int)level < 0 || level > LOG_ERROR)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s component=%s msg=%s",
                          ts.tv_nsec / 1000000, level_names[level], component ? component : "-",
                          log_quote(qmsg, sizeof(qmsg), msg ? msg : ""));
    if (kvfmt && n < sizeof(line) - 2) {
        va_list ap;
        int w;
        line[n++] = ' ';
        va_start(ap, kvfmt);
        w = vsnprintf(line + n, sizeof(line) - n, kvfmt, ap);
        va_end(ap);
        if (w > 0)
            n += (size_t)w;
    }
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* truncated record: keep it one line */
    line[n++] = '\n';
    {
        int fd = atomic_load(&log_fd);
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(fd, line + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    errno = saved_errno;
}
