/* Tests services/writer/election.c: one active writer per data directory, standby takeover. */
#include "services/writer/election.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/bdx-election-XXXXXX";

static void make_dir(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    unlink(path);
    rmdir(dir);
}

TestSuite(election, .init = make_dir, .fini = remove_dir);

static atomic_int promoted;

static void on_active(void *arg)
{
    atomic_fetch_add(&promoted, 1);
    *(int *)arg = 1;
}

static bool wait_until(atomic_int *v, int want, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (atomic_load(v) == want)
            return true;
        usleep(10000);
    }
    return atomic_load(v) == want;
}

Test(election, first_is_active_second_waits_then_takes_over)
{
    election_t *a, *b;
    int flag = 0;

    cr_assert_eq(election_open(dir, NULL, NULL, &a), 0);
    cr_assert(election_is_active(a));
    cr_assert_eq(election_open(dir, on_active, &flag, &b), 0);
    cr_assert_not(election_is_active(b));
    usleep(3 * ELECTION_POLL_MS * 1000);
    cr_assert_not(election_is_active(b), "standby must not take a held lock");
    cr_assert_eq(atomic_load(&promoted), 0);

    election_close(a);
    cr_assert(wait_until(&promoted, 1, 2000), "standby did not take over");
    cr_assert(election_is_active(b));
    cr_assert_eq(flag, 1);
    election_close(b);
}

Test(election, lock_file_names_the_holder)
{
    election_t *a;
    char path[256], buf[128] = {0}, want[64];
    FILE *f;

    cr_assert_eq(election_open(dir, NULL, NULL, &a), 0);
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    snprintf(want, sizeof(want), "pid=%ld ", (long)getpid());
    cr_assert_eq(strncmp(buf, want, strlen(want)), 0, "got %s", buf);
    election_close(a);
}

Test(election, killed_holder_releases_the_lock)
{
    election_t *b;
    int flag = 0;
    int pipefd[2];
    char c;
    pid_t pid;

    cr_assert_eq(pipe(pipefd), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        election_t *a;
        if (election_open(dir, NULL, NULL, &a) != 0 || !election_is_active(a))
            _exit(1);
        (void)write(pipefd[1], "x", 1);
        pause();
        _exit(0);
    }
    cr_assert_eq(read(pipefd[0], &c, 1), 1);
    cr_assert_eq(election_open(dir, on_active, &flag, &b), 0);
    cr_assert_not(election_is_active(b));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert(wait_until(&promoted, 1, 2000), "lock of a killed writer was not released");
    cr_assert(election_is_active(b));
    election_close(b);
    close(pipefd[0]);
    close(pipefd[1]);
}

Test(election, missing_directory_is_an_errno)
{
    election_t *a = (election_t *)1;
    cr_assert_eq(election_open("/nonexistent/bitdex/dir", NULL, NULL, &a), -ENOENT);
    cr_assert_null(a);
}
