/*
 * leftright: Left-Right concurrency control over two instances of one object (Ramalhete and
 * Correia, "Left-Right: A Concurrency Control Technique with Wait-Free Population Oblivious
 * Reads", 2015). Readers never wait and never retry; one writer at a time applies each
 * modification twice, once to the instance no reader uses, then (after moving readers over and
 * waiting for the old ones to leave) to the other. Memory: two copies of the object. Cost of a
 * write: the modification twice plus the wait for the reads in flight on the old instance.
 *
 *   lr_t *lr;  lr_new(a, b, &lr);          // a and b: two equal instances, borrowed
 *   lr_token_t t;  const T *x = lr_read_begin(lr, &t);  ... read x ...  lr_read_end(lr, t);
 *   lr_write(lr, modify, arg);             // modify(a, arg) and modify(b, arg), in some order
 *
 * Ownership: the lr borrows the two instances (the caller frees them after lr_free()).
 *
 * Concurrency contract
 * --------------------
 * - lr_read_begin()/lr_read_end() from any number of threads, concurrently with each other and
 *   with lr_write(); each is a bounded number of atomic operations (wait-free population
 *   oblivious). Between them the reader may read the returned instance (only read: other readers
 *   share it); it stays unchanged until lr_read_end(). A thread may nest read sections (of one lr
 *   or several).
 * - lr_write() from any thread; writers are serialized by a mutex inside. It blocks until the
 *   read sections that started on the old instance before its toggle have ended (never for
 *   sections that start later), so a read section must not wait for a write of the same lr.
 * - lr_free() and lr_wait_idle() need every read section on the lr to have ended / to end.
 *
 * Memory-ordering argument (every ordering below is in the seq_cst total order S unless it says
 * release/acquire; names as in the paper):
 *   Reader:  vi = load(versionIndex); fetch_add(ri[vi][stripe], 1);   ("arrive")
 *            lr = load(leftRight); read inst[lr]; fetch_sub_release(ri[vi][stripe], 1).
 *   Writer:  modify inst[!leftRight]; store(leftRight, !leftRight);
 *            wait until every ri[!vi][*] == 0; store(versionIndex, !vi);
 *            wait until every ri[vi][*] == 0; modify the old instance.
 *   1. A reader that reads the new leftRight sees the first modification: the writer's plain
 *      writes are sequenced before its seq_cst store, which the reader's seq_cst load reads
 *      (release/acquire).
 *   2. The second modification touches no instance a reader still reads. Take a reader R of
 *      the old instance: its load of leftRight precedes the writer's store in S, and its arrive
 *      A is sequenced before that load, so A precedes the store and hence both of the writer's
 *      waits, whichever counter ri[v][stripe] R arrived on. A seq_cst load after A in S sees A's
 *      increment or a later value, so that counter stays >= 1 until R's fetch_sub is in it: the
 *      wait ends only after R departs, and the writer's load that reads 0 (seq_cst, hence
 *      acquire) synchronizes with R's release: R's reads happen before the second modification.
 *      A reader whose arrive comes after the store in S loads leftRight after it and reads the
 *      new instance (already modified, by 1). The next write starts only after this one ends.
 *   3. Per-stripe counters split one counter into several: each reader arrives and departs on
 *      the same stripe, every stripe is >= 0, so a sum that is 0 is "every stripe read 0", and
 *      reading the stripes one after the other is enough because of 2 (a stripe read as 0 can
 *      only gain readers whose arrive follows the store, who read the new instance).
 *   4. The versionIndex toggle makes the writer starvation-free: readers that arrive after the
 *      toggle use the other version, so each version the writer waits on only drains.
 * ThreadSanitizer understands all of this (only C11 atomics, no fences).
 *
 * Failure: when the modification fails, on either instance, the lr is marked failed: the two
 * instances may now differ, so every later lr_write() refuses with BDX_ESTATE and the caller
 * rebuilds (new instances, new lr). Readers are unaffected and keep reading a consistent
 * instance: the untouched one when the first application failed (the write is not visible), or
 * the fully modified one when the second failed (the write is visible, lr_write() still fails).
 */
#ifndef BITDEX_LEFTRIGHT_H
#define BITDEX_LEFTRIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* Read-indicator stripes per version; readers are spread over them by thread. */
#define LR_STRIPES 16

typedef struct lr lr_t;

/* Opaque to callers: which counter a read section arrived on. */
typedef uint32_t lr_token_t;

/* Modifies one instance; called twice per lr_write() with the same arg, must do the same thing
 * both times (deterministic in the instance's state and arg). 0 or an error code. */
typedef int (*lr_write_fn)(void *instance, void *arg);

/* What lr_write() did, for callers that need to know whether readers see the modification. */
typedef enum lr_outcome {
    LR_APPLIED = 0,     /* both instances modified, readers see the change */
    LR_NOT_VISIBLE = 1, /* the first application failed: readers see the old state; lr failed */
    LR_DIVERGED = 2,    /* the second application failed: readers see the change; lr failed */
    LR_REFUSED = 3,     /* the lr had already failed: nothing was called */
} lr_outcome_t;

/* New lr over `inst0` and `inst1` (borrowed; equal in content; readers start on inst0).
 * Caller frees with lr_free(). Returns 0 or -ENOMEM. */
int lr_new(void *inst0, void *inst1, lr_t **out);

/* Frees the lr (not the instances). No read section may be open. NULL is a no-op. */
void lr_free(lr_t *lr);

/* Starts a read section: returns the instance to read (never NULL), valid and unchanged until
 * lr_read_end(lr, *token). Wait-free. */
void *lr_read_begin(lr_t *lr, lr_token_t *token);

/* Ends the read section `token` came from. Wait-free. */
void lr_read_end(lr_t *lr, lr_token_t token);

/*
 * Applies fn to both instances as described above; returns when both are modified and no reader
 * reads the old state. Sets *outcome (may be NULL). Returns 0, fn's error (LR_NOT_VISIBLE or
 * LR_DIVERGED; the lr is failed from then on) or BDX_ESTATE (LR_REFUSED).
 */
int lr_write(lr_t *lr, lr_write_fn fn, void *arg, lr_outcome_t *outcome);

/* True once a write failed (see above). Any thread. */
bool lr_failed(lr_t *lr);

/* Waits until no read section is open, e.g. before freeing an lr that readers can no longer
 * reach. Returns only once the sections open at the call have ended; sections that keep
 * starting may delay it indefinitely. */
void lr_wait_idle(lr_t *lr);

/* Instance readers currently start on (for the writer side and tests; racy by nature). */
void *lr_current(lr_t *lr);

#endif
