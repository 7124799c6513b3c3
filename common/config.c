/*
 * config: defaults < environment < flags, from one option table. See config.h.
 */
#include "common/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return BDX_EINVAL;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;
    int64_t mult = 1;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || errno == ERANGE)
        return BDX_EINVAL;
    if (*end == 'k' || *end == 'K')
        mult = 1024;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024;
    else if (*end == 'g' || *end == 'G')
        mult = 1024 * 1024 * 1024;
    if (mult != 1) {
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
    }
    if (*end != '\0')
        return BDX_EINVAL;
    if (v > INT64_MAX / mult || v < INT64_MIN / mult)
        return BDX_EINVAL;
    *out = (int64_t)v * mult;
    return 0;
}

/* Applies text `val` to option `o`; `from` names the source for messages. */
static int apply(const config_option_t *o, const char *val, const char *from, bdx_error_t *err)
{
    switch (o->type) {
    case CONFIG_STRING: {
        char *copy = strdup(val);
        if (!copy)
            return bdx_error_set(err, -ENOMEM, "out of memory");
        free(*(char **)o->target);
        *(char **)o->target = copy;
        return 0;
    }
    case CONFIG_INT: {
        int64_t v;
        if (parse_int(val, &v) != 0)
            return bdx_error_set(err, BDX_EINVAL, "%s --%s: '%s' is not an integer", from, o->name,
                                 val);
        if ((o->min != 0 || o->max != 0) && (v < o->min || v > o->max))
            return bdx_error_set(err, BDX_EINVAL, "%s --%s: %lld is out of range [%lld, %lld]",
                                 from, o->name, (long long)v, (long long)o->min, (long long)o->max);
        *(int64_t *)o->target = v;
        return 0;
    }
    case CONFIG_BOOL:
        if (parse_bool(val, (bool *)o->target) != 0)
            return bdx_error_set(err, BDX_EINVAL, "%s --%s: '%s' is not a boolean", from, o->name,
                                 val);
        return 0;
    }
    return bdx_error_set(err, BDX_EINTERNAL, "option --%s has an unknown type", o->name);
}

static const config_option_t *find(const config_option_t *opts, size_t n, const char *name,
                                   size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

int config_parse(const config_option_t *opts, size_t nopts, const char *prog, int argc, char **argv,
                 FILE *out, bdx_error_t *err)
{
    int rc;

    for (size_t i = 0; i < nopts; i++) {
        const config_option_t *o = &opts[i];
        const char *env = o->env ? getenv(o->env) : NULL;
        if (o->type == CONFIG_STRING)
            *(char **)o->target = NULL;
        if (o->def && (rc = apply(o, o->def, "default", err)) != 0)
            return rc;
        if (env && (rc = apply(o, env, o->env, err)) != 0)
            return rc;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *name, *eq, *val;
        const config_option_t *o;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            config_usage(opts, nopts, prog, out);
            return CONFIG_HELP;
        }
        if (strncmp(arg, "--", 2) != 0)
            return bdx_error_set(err, BDX_EINVAL, "unexpected argument '%s'", arg);
        name = arg + 2;
        eq = strchr(name, '=');
        o = find(opts, nopts, name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o)
            return bdx_error_set(err, BDX_EINVAL, "unknown option '%s'", arg);
        if (eq) {
            val = eq + 1;
        } else if (o->type == CONFIG_BOOL) {
            val = "true";
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return bdx_error_set(err, BDX_EINVAL, "option --%s needs a value", o->name);
        }
        if ((rc = apply(o, val, "flag", err)) != 0)
            return rc;
    }
    for (size_t i = 0; i < nopts; i++) {
        const config_option_t *o = &opts[i];
        if (o->required && o->type == CONFIG_STRING) {
            const char *v = *(char **)o->target;
            if (!v || !*v)
                return bdx_error_set(err, BDX_EINVAL, "option --%s is required%s%s%s", o->name,
                                     o->env ? " (or set " : "", o->env ? o->env : "",
                                     o->env ? ")" : "");
        }
    }
    return 0;
}

void config_usage(const config_option_t *opts, size_t nopts, const char *prog, FILE *out)
{
    fprintf(out, "usage: %s [options]\n\noptions:\n", prog);
    for (size_t i = 0; i < nopts; i++) {
        const config_option_t *o = &opts[i];
        fprintf(out, "  --%-22s %s", o->name, o->help ? o->help : "");
        if (o->required)
            fprintf(out, " (required)");
        if (o->def)
            fprintf(out, " [default: %s]", o->def);
        if (o->env)
            fprintf(out, " [env: %s]", o->env);
        fputc('\n', out);
    }
    fprintf(out, "  --%-22s %s\n", "help", "print this help and exit");
}

void config_free(const config_option_t *opts, size_t nopts)
{
    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].type == CONFIG_STRING) {
            free(*(char **)opts[i].target);
            *(char **)opts[i].target = NULL;
        }
    }
}
