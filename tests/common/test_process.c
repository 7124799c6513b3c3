/* Tests common/process.c: directory creation and the signal wait. */
#include "common/process.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

Test(process, mkdirs_creates_parents_and_is_idempotent)
{
    char base[] = "/tmp/bdx-proc-XXXXXX";
    char deep[128], file[128];
    struct stat st;

    cr_assert_not_null(mkdtemp(base));
    snprintf(deep, sizeof(deep), "%s/a/b/c", base);
    cr_assert_eq(process_mkdirs(deep), 0);
    cr_assert_eq(stat(deep, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(process_mkdirs(deep), 0);

    snprintf(file, sizeof(file), "%s/f", base);
    fclose(fopen(file, "w"));
    cr_assert_eq(process_mkdirs(file), -ENOTDIR);
    cr_assert_eq(process_mkdirs(""), -ENAMETOOLONG);

    unlink(file);
    snprintf(file, sizeof(file), "%s/a/b/c", base);
    rmdir(file);
    snprintf(file, sizeof(file), "%s/a/b", base);
    rmdir(file);
    snprintf(file, sizeof(file), "%s/a", base);
    rmdir(file);
    rmdir(base);
}

Test(process, blocked_sigterm_is_waited_for_not_fatal)
{
    cr_assert_eq(process_block_signals(), 0);
    /* Directed at this thread: other threads of the test runner may not block SIGTERM. */
    pthread_kill(pthread_self(), SIGTERM);
    cr_assert_eq(process_wait_signal(), SIGTERM);
}
