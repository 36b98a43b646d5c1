/* fuzz_red.c - sfu_red_parse on arbitrary bytes taken as a RED payload:
 * what it accepts is covered exactly by its headers and blocks (in order,
 * inside the input), and when the blocks are ones sfu_red_build takes
 * (one payload type, at most SFU_RED_MAX_BLOCKS earlier ones) building them
 * again gives the input back; a buffer one byte short is refused. */
#include "../util/common.c"
#include "../rtp/red.c"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    sfu_red_block_t b[SFU_RED_PARSE_MAX];
    int n = sfu_red_parse(data, (uint32_t)size, b, SFU_RED_PARSE_MAX);
    if (n < 0)
        return 0;
    FUZZ_CHECK(n >= 1 && n <= SFU_RED_PARSE_MAX);
    size_t covered = (size_t)(n - 1) * 4 + 1;
    const uint8_t *next = data + covered;
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(b[i].data == next);
        next += b[i].len;
        covered += b[i].len;
        FUZZ_CHECK(i < n - 1 ? b[i].len <= SFU_RED_MAX_BLOCK_LEN : b[i].ts_offset == 0);
    }
    FUZZ_CHECK(covered == size);
    fuzz_touch(b[n - 1].data, b[n - 1].len);

    int same_pt = 1;
    for (int i = 0; i < n - 1; i++)
        same_pt &= b[i].payload_type == b[n - 1].payload_type;
    if (!same_pt || n - 1 > SFU_RED_MAX_BLOCKS)
        return 0;
    uint8_t out[SFU_MTU];
    uint32_t len = sfu_red_build(out, sizeof out, b[n - 1].payload_type, b, (uint32_t)(n - 1), b[n - 1].data,
                                 b[n - 1].len);
    FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
    FUZZ_CHECK(sfu_red_build(out, (uint32_t)size - 1, b[n - 1].payload_type, b, (uint32_t)(n - 1),
                             b[n - 1].data, b[n - 1].len) == 0);
    return 0;
}
