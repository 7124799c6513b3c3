/* bitdex-inspect: prints the frames of a WAL (and, as they are added, other on-disk data). */
#include "services/tools/inspect.h"
#include "services/tools/tool.h"

static const tool_command_t commands[] = {
    {"wal", "<dir> [--from LSN] [--limit N] [--decode]",
     "every frame of the WAL in <dir> (segment, offset, LSN, length, CRC); --decode prints the "
     "ApplyRequest ops, one line each",
     inspect_wal},
};

int main(int argc, char **argv)
{
    return tool_main("bitdex-inspect", "print what bitdex files hold (read-only)", commands,
                     sizeof(commands) / sizeof(*commands), argc, argv);
}
