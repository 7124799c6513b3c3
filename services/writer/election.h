/*
 * election: which bitdex-writer process is the active one for a data directory.
 *
 * Concurrency contract: every writer process opens <data>/LOCK and takes an exclusive flock on
 * it. The holder is the active writer; it alone may write files under <data>. Others are
 * standbys: election_open() returns at once and a background thread retries the lock every
 * ELECTION_POLL_MS until it succeeds, then calls the `on_active` callback (from that thread).
 * The kernel drops the lock when the holder's process dies (kill -9 included), so a crash hands
 * over within one poll interval. Readers never touch LOCK. The file's content (pid, start time)
 * is informational only.
 */
#ifndef BITDEX_ELECTION_H
#define BITDEX_ELECTION_H

#include <stdbool.h>

#define ELECTION_POLL_MS 100

typedef struct election election_t;

/* Called once, from the election thread, when a standby becomes the active writer. */
typedef void (*election_active_fn)(void *arg);

/*
 * Opens (creating if needed) <data_dir>/LOCK and tries to take it. On success *out is an
 * election that is either active (election_is_active) or a standby waiting in the background.
 * `on_active` is not called for a writer that is active at once. Returns 0, or -errno when the
 * directory or file cannot be opened. Caller frees with election_close(); nothing to free on
 * failure.
 */
int election_open(const char *data_dir, election_active_fn on_active, void *arg, election_t **out);

/* Whether this process holds the lock. Thread-safe. */
bool election_is_active(const election_t *e);

/* Stops waiting (standby), releases the lock (active) and frees `e`. NULL is a no-op. */
void election_close(election_t *e);

#endif
