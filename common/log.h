/*
 * log: one-line structured logs (logfmt) on stderr.
 *
 *   ts=2026-11-21T06:47:31.123Z level=info component=rpc msg="listening" addr=127.0.0.1:41234 port=41234
 *
 * The key=value tail is a printf format supplied by the caller; values that may contain
 * spaces should be quoted by the caller (use log_quote()). Each record is written with a single
 * write(2), so lines from concurrent threads and processes never interleave.
 * Thread-safe. The level is process-wide.
 */
#ifndef BITDEX_LOG_H
#define BITDEX_LOG_H

#include <stddef.h>

typedef enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
} log_level_t;

/* Sets the minimum level written (default LOG_INFO). */
void log_set_level(log_level_t level);
log_level_t log_get_level(void);

/* Parses "debug" | "info" | "warn" | "error" into *level; returns 0 or BDX_EINVAL. */
int log_level_parse(const char *name, log_level_t *level);

/* Redirects output to `fd` (default 2). For tests. */
void log_set_fd(int fd);

/*
 * Writes one record if `level` is enabled. `kvfmt` may be NULL or a printf format for the
 * key=value tail (e.g. "port=%d path=%s").
 */
void log_write(log_level_t level, const char *component, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Writes `s` into `buf` as a logfmt value: quoted with " and \ escaped (and newlines as \n)
 * when it contains a space, quote, '=' or control character; as-is otherwise. Returns buf.
 */
const char *log_quote(char *buf, size_t len, const char *s);

#define log_debug(comp, msg, ...) log_write(LOG_DEBUG, comp, msg, __VA_ARGS__)
#define log_info(comp, msg, ...) log_write(LOG_INFO, comp, msg, __VA_ARGS__)
#define log_warn(comp, msg, ...) log_write(LOG_WARN, comp, msg, __VA_ARGS__)
#define log_error(comp, msg, ...) log_write(LOG_ERROR, comp, msg, __VA_ARGS__)

#endif
