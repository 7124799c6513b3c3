/*
 * error: the one error convention of bitdex.
 *
 * Every fallible function returns an int: 0 on success, a negative errno (-ENOMEM, -EIO, ...)
 * for system errors, or one of the BDX_E* codes below for bitdex's own. Results travel through
 * out-parameters. Where the caller needs to know *what* was wrong (which field, which op),
 * functions also take a `bdx_error_t *` that receives the code and a human-readable message;
 * that pointer may be NULL when the caller only wants the code.
 *
 * The mapping from these codes to gRPC status codes lives in exactly one place: rpc.c.
 */
#ifndef BITDEX_ERROR_H
#define BITDEX_ERROR_H

#include <stddef.h>

/* bitdex's own codes: a reserved negative block well below any errno value. */
enum {
    BDX_EFIRST = -20000,
    BDX_EINVAL = -20001,         /* the caller's input is invalid (names field and reason) */
    BDX_ENOTFOUND = -20002,      /* an index, field, document or prefilter does not exist */
    BDX_EEXIST = -20003,         /* it already exists */
    BDX_ELIMIT = -20004,         /* a configured limit was exceeded by the request */
    BDX_ECURSOR = -20005,        /* malformed cursor or cursor from another query */
    BDX_ECORRUPT = -20006,       /* on-disk data failed a check (file and offset in message) */
    BDX_EVERSION = -20007,       /* on-disk format version this build cannot read */
    BDX_EUNAVAILABLE = -20008,   /* not serving yet (standby writer, reader still loading) */
    BDX_ECANCELLED = -20009,     /* the caller cancelled */
    BDX_EDEADLINE = -20010,      /* the caller's deadline passed */
    BDX_EUNIMPLEMENTED = -20011, /* not implemented on this service */
    BDX_EPERM = -20012,          /* authenticated but not allowed (admin token) */
    BDX_EUNAUTH = -20013,        /* missing or wrong credentials */
    BDX_ESTATE = -20014,         /* the system is not in a state that allows this operation */
    BDX_EINTERNAL = -20015,      /* a bug: an invariant did not hold */
    BDX_ETOOBIG = -20016,        /* a server resource (memory, disk, queue) is exhausted */
    BDX_ELAST = -20017
};

#define BDX_ERROR_MSG_MAX 256

/* An error code plus its message; fill with bdx_error_set(). */
typedef struct bdx_error {
    int code;
    char msg[BDX_ERROR_MSG_MAX];
} bdx_error_t;

/* Returns a static, never-NULL description of `code` (0, -errno or BDX_E*). */
const char *bdx_strerror(int code);

/*
 * Records `code` and a printf-style message in `err` (which may be NULL) and returns `code`,
 * so a failing path reads `return bdx_error_set(err, BDX_EINVAL, "field %s: ...", name);`.
 * A message longer than BDX_ERROR_MSG_MAX - 1 bytes is truncated.
 */
int bdx_error_set(bdx_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears `err` (may be NULL) to code 0 and an empty message. */
void bdx_error_clear(bdx_error_t *err);

/* Returns err->msg if set, else bdx_strerror(err->code). `err` must not be NULL. */
const char *bdx_error_message(const bdx_error_t *err);

#endif
