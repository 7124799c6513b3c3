/* Tests common/config.c: defaults < environment < flags, and every usage error. */
#include "common/config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static char *data_dir, *listen_addr;
static int64_t threads, max_msg;
static bool verbose;

static const config_option_t opts[] = {
    {"data-dir", "T_DATA_DIR", CONFIG_STRING, &data_dir, NULL, 0, 0, true, "data directory"},
    {"listen", "T_LISTEN", CONFIG_STRING, &listen_addr, "127.0.0.1:0", 0, 0, false, "address"},
    {"threads", "T_THREADS", CONFIG_INT, &threads, "2", 1, 64, false, "workers"},
    {"max-message-bytes", NULL, CONFIG_INT, &max_msg, "4MiB", 1024, 1 << 30, false, "limit"},
    {"verbose", NULL, CONFIG_BOOL, &verbose, "false", 0, 0, false, "chatty"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static int parse(int argc, char **argv, bdx_error_t *err)
{
    FILE *devnull = fopen("/dev/null", "w");
    int rc = config_parse(opts, NOPTS, "t", argc, argv, devnull, err);
    fclose(devnull);
    return rc;
}

static void clean_env(void)
{
    unsetenv("T_DATA_DIR");
    unsetenv("T_LISTEN");
    unsetenv("T_THREADS");
}

TestSuite(config, .init = clean_env);

Test(config, defaults_env_and_flags_in_order)
{
    char *argv[] = {"t", "--data-dir", "/d", "--threads=8", "--verbose", NULL};
    bdx_error_t e;
    setenv("T_THREADS", "4", 1);
    setenv("T_LISTEN", "0.0.0.0:9", 1);
    cr_assert_eq(parse(5, argv, &e), 0, "%s", e.msg);
    cr_assert_str_eq(data_dir, "/d");
    cr_assert_str_eq(listen_addr, "0.0.0.0:9"); /* env beats default */
    cr_assert_eq(threads, 8);                   /* flag beats env */
    cr_assert_eq(max_msg, 4 * 1024 * 1024);     /* default with suffix */
    cr_assert(verbose);
    config_free(opts, NOPTS);
    cr_assert_null(data_dir);
}

Test(config, size_suffixes)
{
    char *argv[] = {"t", "--data-dir=/d", "--max-message-bytes", "16k", NULL};
    bdx_error_t e;
    cr_assert_eq(parse(4, argv, &e), 0, "%s", e.msg);
    cr_assert_eq(max_msg, 16384);
    config_free(opts, NOPTS);
}

struct bad {
    char *args[4];
    const char *msg;
};

Test(config, usage_errors_name_the_option)
{
    const struct bad cases[] = {
        {{"--data-dir", "/d", "--bogus"}, "unknown option '--bogus'"},
        {{"--data-dir", "/d", "--threads"}, "option --threads needs a value"},
        {{"--data-dir", "/d", "--threads=many"}, "flag --threads: 'many' is not an integer"},
        {{"--data-dir", "/d", "--threads=0"}, "flag --threads: 0 is out of range [1, 64]"},
        {{"--data-dir", "/d", "--verbose=maybe"}, "flag --verbose: 'maybe' is not a boolean"},
        {{"--data-dir", "/d", "stray"}, "unexpected argument 'stray'"},
        {{"--threads", "3", NULL}, "option --data-dir is required (or set T_DATA_DIR)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[5] = {"t"};
        int argc = 1;
        bdx_error_t e;
        for (int j = 0; j < 3 && cases[i].args[j]; j++)
            argv[argc++] = cases[i].args[j];
        cr_assert_eq(parse(argc, argv, &e), BDX_EINVAL, "case %zu", i);
        cr_assert_str_eq(e.msg, cases[i].msg, "case %zu", i);
        config_free(opts, NOPTS);
    }
}

Test(config, bad_environment_is_an_error)
{
    char *argv[] = {"t", "--data-dir", "/d", NULL};
    bdx_error_t e;
    setenv("T_THREADS", "lots", 1);
    cr_assert_eq(parse(3, argv, &e), BDX_EINVAL);
    cr_assert_str_eq(e.msg, "T_THREADS --threads: 'lots' is not an integer");
    config_free(opts, NOPTS);
}

Test(config, help_prints_usage)
{
    char *argv[] = {"t", "--help", NULL};
    char buf[2048] = {0};
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    bdx_error_t e;
    cr_assert_eq(config_parse(opts, NOPTS, "t", 2, argv, f, &e), CONFIG_HELP);
    fclose(f);
    cr_assert_not_null(strstr(buf, "--data-dir"));
    cr_assert_not_null(strstr(buf, "[env: T_DATA_DIR]"));
    cr_assert_not_null(strstr(buf, "[default: 4MiB]"));
    config_free(opts, NOPTS);
}
