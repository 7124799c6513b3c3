/* bitdex-check: verifies a WAL, a generation, or a whole index directory. */
#include "services/tools/check.h"
#include "services/tools/tool.h"

static const tool_command_t commands[] = {
    {"wal", "<dir> [--repair-last-segment]",
     "verify every frame of the WAL in <dir>; --repair-last-segment cuts a damaged last segment "
     "(writer stopped)",
     check_wal},
    {"generation", "<gen-dir>",
     "verify a gen-<N> directory: manifest, every file and section checksum, and that it loads",
     check_generation},
    {"index", "<index-dir>",
     "verify an index: CURRENT, its generation, and the WAL holding every LSN after the "
     "generation's checkpoint (each frame an ApplyRequest)",
     check_index},
};

int main(int argc, char **argv)
{
    return tool_main("bitdex-check", "verify bitdex files (exit 0 sound, 1 corrupt, 2 usage)",
                     commands, sizeof(commands) / sizeof(*commands), argc, argv);
}
