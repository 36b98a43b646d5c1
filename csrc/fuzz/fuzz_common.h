/* fuzz_common.h - shared bits of the data-plane fuzz harnesses.
 *
 * Every harness #includes the data-plane .c files it exercises (and only
 * those), so a harness binary contains nothing but the code under test.
 * FUZZ_CHECK states a property the code under test must keep for any
 * input; a violation aborts, which libFuzzer and the standalone replayer
 * both report as a crash. */
#ifndef SFU_FUZZ_COMMON_H
#define SFU_FUZZ_COMMON_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sfu_api.h"

#define FUZZ_CHECK(e)                                                          \
    do {                                                                       \
        if (!(e)) {                                                            \
            fprintf(stderr, "fuzz: check failed: %s (%s:%d)\n", #e, __FILE__,  \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Read every byte of [p, p+n) so the sanitizer sees any out-of-bounds
 * offset a parser hands back. */
static inline void fuzz_touch(const uint8_t *p, size_t n)
{
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i++)
        sink ^= p[i];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
