/*
 * error: codes, their descriptions and the error-with-message carrier. See error.h.
 */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const bdx_messages[] = {
    [-(BDX_EINVAL - BDX_EFIRST)] = "invalid argument",
    [-(BDX_ENOTFOUND - BDX_EFIRST)] = "not found",
    [-(BDX_EEXIST - BDX_EFIRST)] = "already exists",
    [-(BDX_ELIMIT - BDX_EFIRST)] = "limit exceeded",
    [-(BDX_ECURSOR - BDX_EFIRST)] = "invalid cursor",
    [-(BDX_ECORRUPT - BDX_EFIRST)] = "data corruption",
    [-(BDX_EVERSION - BDX_EFIRST)] = "unsupported format version",
    [-(BDX_EUNAVAILABLE - BDX_EFIRST)] = "not serving",
    [-(BDX_ECANCELLED - BDX_EFIRST)] = "cancelled",
    [-(BDX_EDEADLINE - BDX_EFIRST)] = "deadline exceeded",
    [-(BDX_EUNIMPLEMENTED - BDX_EFIRST)] = "not implemented",
    [-(BDX_EPERM - BDX_EFIRST)] = "permission denied",
    [-(BDX_EUNAUTH - BDX_EFIRST)] = "unauthenticated",
    [-(BDX_ESTATE - BDX_EFIRST)] = "operation not allowed in the current state",
    [-(BDX_EINTERNAL - BDX_EFIRST)] = "internal error",
    [-(BDX_ETOOBIG - BDX_EFIRST)] = "resource exhausted",
};

const char *bdx_strerror(int code)
{
    if (code == 0)
        return "ok";
    if (code < BDX_EFIRST && code > BDX_ELAST) {
        const char *m = bdx_messages[-(code - BDX_EFIRST)];
        return m ? m : "unknown bitdex error";
    }
    if (code < 0 && code > -4096)
        return strerror(-code); /* glibc returns a static table entry; never NULL */
    return "unknown error";
}

int bdx_error_set(bdx_error_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void bdx_error_clear(bdx_error_t *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *bdx_error_message(const bdx_error_t *err)
{
    return err->msg[0] ? err->msg : bdx_strerror(err->code);
}
