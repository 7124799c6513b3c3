/*
 * alias: Vose's construction of the alias table. Columns whose scaled weight is below 1 are
 * topped up by one column above 1; each column then holds at most two outcomes. Thresholds are
 * stored as 32-bit fixed point so a draw needs a single 64-bit random number.
 */
#include "bench/alias.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "common/error.h"

int alias_init(alias_t *a, const double *weights, size_t n)
{
    int rc = 0;
    double *scaled = NULL;
    uint32_t *small = NULL, *large = NULL;
    a->n = 0;
    a->threshold = a->other = NULL;
    if (n == 0 || n >= UINT32_MAX)
        return BDX_EINVAL;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(weights[i] >= 0))
            return BDX_EINVAL;
        sum += weights[i];
    }
    if (!(sum > 0))
        return BDX_EINVAL;

    a->threshold = malloc(n * sizeof(uint32_t));
    a->other = malloc(n * sizeof(uint32_t));
    scaled = malloc(n * sizeof(double));
    small = malloc(n * sizeof(uint32_t));
    large = malloc(n * sizeof(uint32_t));
    if (!a->threshold || !a->other || !scaled || !small || !large) {
        rc = -ENOMEM;
        goto out;
    }
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < n; i++) {
        scaled[i] = weights[i] * (double)n / sum;
        a->other[i] = (uint32_t)i;
        if (scaled[i] < 1.0)
            small[ns++] = (uint32_t)i;
        else
            large[nl++] = (uint32_t)i;
    }
    while (ns > 0 && nl > 0) {
        uint32_t s = small[--ns], l = large[nl - 1];
        a->other[s] = l;
        a->threshold[s] = (uint32_t)ldexp(scaled[s], 32);
        scaled[l] = (scaled[l] + scaled[s]) - 1.0;
        if (scaled[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* What remains is 1 up to rounding: always keep the column. */
    while (nl > 0)
        a->threshold[large[--nl]] = UINT32_MAX;
    while (ns > 0)
        a->threshold[small[--ns]] = UINT32_MAX;
    a->n = (uint32_t)n;
out:
    free(scaled);
    free(small);
    free(large);
    return rc;
}

int alias_init_zipf(alias_t *a, size_t n, double s)
{
    double *w = malloc((n ? n : 1) * sizeof(double));
    if (!w) {
        a->n = 0;
        a->threshold = a->other = NULL;
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        w[i] = pow((double)(i + 1), -s);
    int rc = alias_init(a, w, n);
    free(w);
    return rc;
}

void alias_free(alias_t *a)
{
    free(a->threshold);
    free(a->other);
    a->threshold = a->other = NULL;
    a->n = 0;
}
