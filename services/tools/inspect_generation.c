/*
 * inspect_generation: `bitdex-inspect generation`. Prints a generation's manifest (number,
 * checkpoint LSN, base/delta), its files and every section of each file (type, field, offset,
 * length, XXH3-64) as generation_open() reads them. Opens without verifying section checksums
 * (bitdex-check generation does that), so it can show a damaged generation's layout.
 */
#include "services/tools/inspect.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "common/error.h"
#include "common/generation.h"
#include "services/tools/tool.h"

int inspect_generation(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    generation_t *g;
    bdx_error_t err = {0};
    const char *dir;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        return tool_usage();
    if (optind != argc - 1)
        return tool_usage();
    dir = argv[optind];
    if ((rc = generation_open(dir, 0, &g, &err)) != 0) {
        printf("generation %s: %s\n", dir, bdx_error_message(&err));
        return TOOL_FAIL;
    }
    printf("generation %s: number=%" PRIu64 " lsn=%" PRIu64 " base_number=%" PRIu64
           " kind=%s docs=%" PRIu64 " mapped_bytes=%" PRIu64 "\n",
           dir, generation_number(g), generation_lsn(g), generation_base_number(g),
           generation_is_delta(g) ? "delta" : "base", generation_doc_count(g),
           generation_mapped_bytes(g));
    for (unsigned i = 0; i < generation_file_count(g); i++) {
        generation_file_info_t f;
        generation_file(g, i, &f);
        printf("file %s size=%" PRIu64 " checksum=%016" PRIx64 " sections=%u\n", f.name, f.size,
               f.checksum, f.sections);
        for (unsigned j = 0; j < f.sections; j++) {
            generation_section_info_t s;
            generation_section(g, i, j, &s);
            printf("  section %u type=%s arg=%" PRIu32 " offset=%" PRIu64 " length=%" PRIu64
                   " checksum=%016" PRIx64 "\n",
                   j, s.type, s.arg, s.offset, s.length, s.checksum);
        }
    }
    generation_close(g);
    return TOOL_OK;
}
