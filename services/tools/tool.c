/* tool: subcommand dispatch and shared helpers of bitdex-inspect and bitdex-check. */
#include "services/tools/tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The running command, for tool_usage(). */
static const char *cur_prog;
static const tool_command_t *cur_cmd;

static void help(FILE *f, const char *prog, const char *about, const tool_command_t *commands,
                 unsigned n)
{
    fprintf(f, "%s: %s\n\nusage:\n", prog, about);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "  %s %s %s\n      %s\n", prog, commands[i].name, commands[i].args,
                commands[i].summary);
    fprintf(f, "\nexit status: 0 sound, 1 corrupt or unreadable, 2 usage error\n");
}

int tool_main(const char *prog, const char *about, const tool_command_t *commands, unsigned n,
              int argc, char **argv)
{
    if (argc < 2) {
        help(stderr, prog, about, commands, n);
        return TOOL_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        help(stdout, prog, about, commands, n);
        return TOOL_OK;
    }
    for (unsigned i = 0; i < n; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            cur_prog = prog;
            cur_cmd = &commands[i];
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "%s: unknown command \"%s\"\n\n", prog, argv[1]);
    help(stderr, prog, about, commands, n);
    return TOOL_USAGE;
}

int tool_usage(void)
{
    if (cur_cmd != NULL)
        fprintf(stderr, "usage: %s %s %s\n", cur_prog, cur_cmd->name, cur_cmd->args);
    return TOOL_USAGE;
}

bool tool_parse_u64(const char *what, const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "%s: not a non-negative integer: \"%s\"\n", what, s);
        return false;
    }
    *out = v;
    return true;
}
