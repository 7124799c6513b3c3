/*
 * report: what every benchmark report records about the machine and the run, and the one JSON
 * string writer the reports share (engine, PostgreSQL peer, storage).
 */
#ifndef BITDEX_BENCH_REPORT_H
#define BITDEX_BENCH_REPORT_H

#include <stddef.h>
#include <stdio.h>

/* The CPU model from /proc/cpuinfo ("model name"), or "" when unknown. */
void report_cpu_model(char *out, size_t len);

/* /proc/loadavg's line without its newline, or "unknown". */
void report_loadavg(char *out, size_t len);

/* Writes `s` as a JSON string literal (quotes, backslashes and control characters escaped). */
void report_json_string(FILE *f, const char *s);

#endif
