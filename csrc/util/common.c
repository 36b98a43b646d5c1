/* common.c - the one place an invariant failure is reported. */
#include <stdio.h>
#include <stdlib.h>
#include "util/sfu_common.h"

void sfu_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "sfu: invariant failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
