/*
 * stats: latency summaries (percentiles, medians) for the benchmark's reports.
 *
 * Percentiles use the nearest-rank definition on the sorted sample: p-th percentile = the
 * value at rank ceil(p/100 * n) (1-based), so p99 of 100 samples is the 99th smallest and
 * p100 is the maximum. Pure functions; thread-safe.
 */
#ifndef BITDEX_BENCH_STATS_H
#define BITDEX_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct stats_summary {
    size_t n;
    uint64_t p50, p99, max, min; /* nanoseconds */
    double mean;
} stats_summary_t;

/* Summarizes ns[0..n) (sorted in place). A zero-length sample gives all zeros. */
void stats_summarize(uint64_t *ns, size_t n, stats_summary_t *out);

/* Nearest-rank percentile of an ascending array (n >= 1, 0 < p <= 100). */
uint64_t stats_percentile_sorted(const uint64_t *sorted, size_t n, double p);

/* Median of v[0..n) (sorted in place; the mean of the two middle values for even n). */
double stats_median(double *v, size_t n);

/* Monotonic clock in nanoseconds. */
uint64_t stats_now_ns(void);

/* CPU time of the calling thread in nanoseconds: unlike wall time, it does not grow while the
 * thread waits to be scheduled, so it stays meaningful on a shared, overloaded machine. */
uint64_t stats_cpu_ns(void);

#endif
