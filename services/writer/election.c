/*
 * election: flock on <data>/LOCK decides the active writer; standbys poll for it.
 *
 * Polling with LOCK_NB (instead of a blocking flock in a thread) keeps shutdown simple: the
 * waiting thread checks a stop flag between attempts, so election_close() never has to
 * interrupt a blocked system call.
 */
#include "services/writer/election.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

struct election {
    int fd;
    atomic_bool active;
    atomic_bool stop;
    bool has_thread;
    pthread_t thread;
    election_active_fn on_active;
    void *arg;
};

/* Records who holds the lock, for operators reading the file. Best effort. */
static void write_owner(int fd)
{
    char buf[128];
    int n =
        snprintf(buf, sizeof(buf), "pid=%ld since=%lld\n", (long)getpid(), (long long)time(NULL));
    if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) == n)
        (void)fdatasync(fd);
}

static bool try_lock(int fd)
{
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EINTR)
            return false;
    }
    return true;
}

static void *wait_for_lock(void *p)
{
    election_t *e = p;
    const struct timespec nap = {0, ELECTION_POLL_MS * 1000000L};

    while (!atomic_load(&e->stop)) {
        if (try_lock(e->fd)) {
            write_owner(e->fd);
            atomic_store(&e->active, true);
            log_info("election", "active", "pid=%ld reason=lock-acquired", (long)getpid());
            if (e->on_active)
                e->on_active(e->arg);
            return NULL;
        }
        nanosleep(&nap, NULL);
    }
    return NULL;
}

int election_open(const char *data_dir, election_active_fn on_active, void *arg, election_t **out)
{
    char path[PATH_MAX];
    election_t *e;
    int rc;

    *out = NULL;
    if (snprintf(path, sizeof(path), "%s/LOCK", data_dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->on_active = on_active;
    e->arg = arg;
    e->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (e->fd < 0) {
        rc = -errno;
        free(e);
        return rc;
    }
    if (try_lock(e->fd)) {
        write_owner(e->fd);
        atomic_store(&e->active, true);
        log_info("election", "active", "pid=%ld reason=lock-free", (long)getpid());
    } else {
        log_info("election", "standby", "pid=%ld lock=%s", (long)getpid(), path);
        rc = pthread_create(&e->thread, NULL, wait_for_lock, e);
        if (rc != 0) {
            close(e->fd);
            free(e);
            return -rc;
        }
        e->has_thread = true;
    }
    *out = e;
    return 0;
}

bool election_is_active(const election_t *e)
{
    return atomic_load(&e->active);
}

void election_close(election_t *e)
{
    if (!e)
        return;
    atomic_store(&e->stop, true);
    if (e->has_thread)
        pthread_join(e->thread, NULL);
    /* Closing the descriptor releases the flock. */
    close(e->fd);
    free(e);
}
