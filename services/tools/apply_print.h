/*
 * apply_print: one line of text per write op of a bitdex.v1.ApplyRequest (a WAL payload), for
 * bitdex-inspect --decode. Lines look like
 *     op 0: put id=7 filter{nsfwLevel=1 tagIds=[3,9]} sort{reactionCount=12} stored{url="a"}
 *     op 1: delete id=9
 * Strings are quoted with C escapes for quotes, backslashes and non-printable bytes; bytes
 * values print as their length. The format is for people and may change; do not parse it.
 *
 * Concurrency: none (writes to the FILE given).
 */
#ifndef BITDEX_TOOLS_APPLY_PRINT_H
#define BITDEX_TOOLS_APPLY_PRINT_H

#include <stdio.h>

#include "bitdex/v1/writer.pb-c.h"

/* Prints "  batch index=... ops=N batch_id=..." and then one "  op <i>: ..." line per op, each
 * line starting with `indent`. `req` is borrowed. */
void apply_print(FILE *f, const char *indent, const Bitdex__V1__ApplyRequest *req);

#endif
