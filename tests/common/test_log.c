/* Tests common/log.c: logfmt records, levels, quoting. */
#include "common/error.h"
#include "common/log.h"

#include <criterion/criterion.h>
#include <regex.h>
#include <string.h>
#include <unistd.h>

/* Writes through a pipe and returns what was logged (NUL-terminated, into buf). */
static void capture(char *buf, size_t len, void (*fn)(void))
{
    int p[2];
    ssize_t n;
    cr_assert_eq(pipe(p), 0);
    log_set_fd(p[1]);
    fn();
    log_set_fd(2);
    close(p[1]);
    n = read(p[0], buf, len - 1);
    close(p[0]);
    buf[n < 0 ? 0 : n] = '\0';
}

static void write_listening(void)
{
    log_set_level(LOG_INFO);
    log_info("rpc", "listening", "addr=%s port=%d", "127.0.0.1:5", 5);
}

Test(log, record_is_one_logfmt_line)
{
    char out[512];
    regex_t re;
    capture(out, sizeof(out), write_listening);
    cr_assert_eq(regcomp(&re,
                         "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z level=info "
                         "component=rpc msg=listening addr=127\\.0\\.0\\.1:5 port=5\n$",
                         REG_EXTENDED),
                 0);
    cr_assert_eq(regexec(&re, out, 0, NULL, 0), 0, "got: %s", out);
    regfree(&re);
}

static void write_filtered(void)
{
    log_set_level(LOG_WARN);
    log_info("x", "hidden", NULL);
    log_debug("x", "hidden", NULL);
    log_warn("x", "shown twice", NULL);
    log_error("x", "err", "k=%d", 1);
    log_set_level(LOG_INFO);
}

Test(log, level_filters_records)
{
    char out[512];
    capture(out, sizeof(out), write_filtered);
    cr_assert_null(strstr(out, "hidden"));
    cr_assert_not_null(strstr(out, "level=warn component=x msg=\"shown twice\"\n"));
    cr_assert_not_null(strstr(out, "level=error component=x msg=err k=1\n"));
}

Test(log, parse_levels)
{
    log_level_t l;
    cr_assert_eq(log_level_parse("debug", &l), 0);
    cr_assert_eq(l, LOG_DEBUG);
    cr_assert_eq(log_level_parse("error", &l), 0);
    cr_assert_eq(l, LOG_ERROR);
    cr_assert_eq(log_level_parse("loud", &l), BDX_EINVAL);
    cr_assert_eq(log_level_parse(NULL, &l), BDX_EINVAL);
}

Test(log, quote)
{
    char b[64];
    cr_assert_str_eq(log_quote(b, sizeof(b), "plain"), "plain");
    cr_assert_str_eq(log_quote(b, sizeof(b), ""), "\"\"");
    cr_assert_str_eq(log_quote(b, sizeof(b), "a b"), "\"a b\"");
    cr_assert_str_eq(log_quote(b, sizeof(b), "say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
    cr_assert_str_eq(log_quote(b, sizeof(b), "k=v"), "\"k=v\"");
    cr_assert_str_eq(log_quote(b, 6, "a long value"), "\"a l\"");
}

static void write_long(void)
{
    char big[5000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_set_level(LOG_INFO);
    log_info("x", "long", "v=%s", big);
}

Test(log, long_record_stays_one_line)
{
    char out[8192];
    capture(out, sizeof(out), write_long);
    cr_assert_eq(strlen(out), 2047);
    cr_assert_eq(strchr(out, '\n'), out + 2046, "the record must be one line");
}
