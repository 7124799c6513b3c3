/*
 * process: signal mask, signal wait and directory creation for service start-up. See process.h.
 */
#include "common/process.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void shutdown_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

int process_block_signals(void)
{
    sigset_t set;
    int rc;

    signal(SIGPIPE, SIG_IGN);
    shutdown_signals(&set);
    rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    return -rc;
}

int process_wait_signal(void)
{
    sigset_t set;
    int sig = 0;

    shutdown_signals(&set);
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}

int process_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0) {
        struct stat st;
        if (errno != EEXIST)
            return -errno;
        if (stat(buf, &st) != 0)
            return -errno;
        if (!S_ISDIR(st.st_mode))
            return -ENOTDIR;
    }
    return 0;
}
