/* bitdex-check: verifies a WAL (and, as they are added, other on-disk data). */
#include "services/tools/check.h"
#include "services/tools/tool.h"

static const tool_command_t commands[] = {
    {"wal", "<dir> [--repair-last-segment]",
     "verify every frame of the WAL in <dir>; --repair-last-segment cuts a damaged last segment "
     "(writer stopped)",
     check_wal},
};

int main(int argc, char **argv)
{
    return tool_main("bitdex-check", "verify bitdex files (exit 0 sound, 1 corrupt, 2 usage)",
                     commands, sizeof(commands) / sizeof(*commands), argc, argv);
}
