/*
 * process: start-up and shutdown plumbing shared by the bitdex executables.
 *
 * gRPC starts threads inside grpc_init(); a signal delivered to one of them would be lost to
 * the service. So a service calls process_block_signals() first thing in main(), before any
 * gRPC call, and later waits for SIGINT/SIGTERM with process_wait_signal() in the main thread.
 * Not thread-safe; main thread only.
 */
#ifndef BITDEX_PROCESS_H
#define BITDEX_PROCESS_H

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (inherited by threads it creates)
 * and ignores SIGPIPE. Returns 0 or -errno. */
int process_block_signals(void);

/* Waits for SIGINT, SIGTERM or SIGHUP; returns the signal number. */
int process_wait_signal(void);

/* Creates `path` and missing parents with mode 0755. Returns 0 or -errno. */
int process_mkdirs(const char *path);

#endif
