/* Tests common/error.c: codes, descriptions, the message carrier. */
#include "common/error.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

Test(error, every_bdx_code_has_its_own_description)
{
    for (int c = BDX_EFIRST - 1; c > BDX_ELAST; c--) {
        const char *m = bdx_strerror(c);
        cr_assert_not_null(m);
        cr_assert_str_neq(m, "unknown bitdex error", "code %d has no description", c);
        for (int d = c - 1; d > BDX_ELAST; d--)
            cr_assert_str_neq(m, bdx_strerror(d), "codes %d and %d share a description", c, d);
    }
}

Test(error, errno_and_unknown_codes)
{
    cr_assert_str_eq(bdx_strerror(0), "ok");
    cr_assert_str_eq(bdx_strerror(-ENOENT), strerror(ENOENT));
    cr_assert_str_eq(bdx_strerror(-ENOMEM), strerror(ENOMEM));
    cr_assert_str_eq(bdx_strerror(BDX_EFIRST), "unknown error");
    cr_assert_str_eq(bdx_strerror(BDX_ELAST), "unknown error");
    cr_assert_str_eq(bdx_strerror(12345), "unknown error");
}

Test(error, set_returns_code_and_formats)
{
    bdx_error_t e;
    bdx_error_clear(&e);
    cr_assert_eq(e.code, 0);
    cr_assert_str_eq(bdx_error_message(&e), "ok");
    cr_assert_eq(bdx_error_set(&e, BDX_EINVAL, "field %s: %d", "nsfwLevel", 7), BDX_EINVAL);
    cr_assert_eq(e.code, BDX_EINVAL);
    cr_assert_str_eq(e.msg, "field nsfwLevel: 7");
    cr_assert_str_eq(bdx_error_message(&e), "field nsfwLevel: 7");
    cr_assert_eq(bdx_error_set(NULL, BDX_ENOTFOUND, "ignored"), BDX_ENOTFOUND);
}

Test(error, long_messages_are_truncated)
{
    bdx_error_t e;
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    bdx_error_set(&e, BDX_EINVAL, "%s", big);
    cr_assert_eq(strlen(e.msg), BDX_ERROR_MSG_MAX - 1);
}

Test(error, empty_message_falls_back_to_description)
{
    bdx_error_t e;
    bdx_error_set(&e, BDX_ECURSOR, "%s", "");
    cr_assert_str_eq(bdx_error_message(&e), "invalid cursor");
}
