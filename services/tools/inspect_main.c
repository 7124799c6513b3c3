/* bitdex-inspect: prints what a WAL or a generation holds. */
#include "services/tools/inspect.h"
#include "services/tools/tool.h"

static const tool_command_t commands[] = {
    {"wal", "<dir> [--from LSN] [--limit N] [--decode]",
     "every frame of the WAL in <dir> (segment, offset, LSN, length, CRC); --decode prints the "
     "ApplyRequest ops, one line each",
     inspect_wal},
    {"generation", "<gen-dir>",
     "manifest of a gen-<N> directory, its files and every section (type, offset, length, "
     "XXH3-64); does not verify checksums",
     inspect_generation},
};

int main(int argc, char **argv)
{
    return tool_main("bitdex-inspect", "print what bitdex files hold (read-only)", commands,
                     sizeof(commands) / sizeof(*commands), argc, argv);
}
