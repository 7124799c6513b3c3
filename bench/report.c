/*
 * report: machine facts and JSON strings for benchmark reports. See report.h.
 */
#include "bench/report.h"

#include <string.h>

void report_cpu_model(char *out, size_t len)
{
    static const char prefix[] = "model name";
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");

    out[0] = '\0';
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *p;
        if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
            continue;
        if ((p = strchr(line, ':')) != NULL) {
            for (p++; *p == ' ' || *p == '\t'; p++)
                ;
            p[strcspn(p, "\n")] = '\0';
            snprintf(out, len, "%s", p);
        }
        break;
    }
    fclose(f);
}

void report_loadavg(char *out, size_t len)
{
    FILE *f = fopen("/proc/loadavg", "r");

    snprintf(out, len, "unknown");
    if (f == NULL)
        return;
    if (fgets(out, (int)len, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

void report_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}
