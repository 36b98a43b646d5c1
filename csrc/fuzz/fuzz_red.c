/* fuzz_red.c - sfu_red_parse on arbitrary bytes taken as a RED payload:
 * what it accepts is covered exactly by its headers and blocks (in order,
 * inside the input), and when the blocks are ones sfu_red_build takes
 * (one payload type, at most SFU_RED_MAX_BLOCKS earlier ones) building them
 * again gives the input back; a buffer one byte short is refused.  Then the
 * same bytes as the payload of a publisher's RED packet through
 * sfu_red_unwrap: refused exactly when the parser refuses (the packet left
 * alone), else the packet's primary with the header kept. */
#include "../util/common.c"
#include "../rtp/rtp.c"
#include "../rtp/red.c"
#include "fuzz_common.h"

static void unwrap_check(const uint8_t *data, size_t size, int parsed, const sfu_red_block_t *last)
{
    uint8_t pkt[SFU_MTU];
    if (size + 12 > sizeof pkt)
        return;
    static const uint8_t hdr[12] = {0x80, 63, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7};
    memcpy(pkt, hdr, 12);
    memcpy(pkt + 12, data, size);
    uint32_t len = (uint32_t)size + 12;
    sfu_rtp_t red, out;
    if (sfu_rtp_parse(pkt, len, &red) != SFU_DROP_NONE)
        return;
    static uint8_t blocks[SFU_RED_MAX_BLOCKS][SFU_RED_MAX_BLOCK_LEN];
    uint16_t lens[SFU_RED_MAX_BLOCKS], seqs[SFU_RED_MAX_BLOCKS];
    uint32_t ts[SFU_RED_MAX_BLOCKS], n = 99;
    int rc = sfu_red_unwrap(pkt, &len, &red, 111, &out, blocks, lens, seqs, ts, SFU_RED_MAX_BLOCKS, &n);
    if (size == 0) {
        FUZZ_CHECK(rc == SFU_DROP_NONE && n == 0 && len == 12 && out.payload_type == 111);
        return;
    }
    if (parsed < 1) {
        FUZZ_CHECK(rc == SFU_DROP_BAD_RED && n == 0 && len == size + 12 && memcmp(pkt + 12, data, size) == 0);
        return;
    }
    FUZZ_CHECK(rc == SFU_DROP_NONE && out.payload_type == 111 && out.seq == 0x1234 && out.ts == 0x1000);
    FUZZ_CHECK(len == 12u + last->len && out.payload_len == last->len);
    FUZZ_CHECK(memcmp(pkt + 12, last->data, last->len) == 0);
    FUZZ_CHECK(n == ((uint32_t)parsed - 1 < SFU_RED_MAX_BLOCKS ? (uint32_t)parsed - 1 : SFU_RED_MAX_BLOCKS));
    for (uint32_t i = 0; i < n; i++)
        FUZZ_CHECK(seqs[i] == (uint16_t)(0x1234 - (n - i)) && lens[i] <= SFU_RED_MAX_BLOCK_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    sfu_red_block_t b[SFU_RED_PARSE_MAX];
    int n = sfu_red_parse(data, (uint32_t)size, b, SFU_RED_PARSE_MAX);
    if (n < 0) {
        unwrap_check(data, size, n, NULL);
        return 0;
    }
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
    sfu_red_block_t last = b[n - 1];
    uint8_t copy[SFU_MTU];                       /* b[] points into data; the unwrap check copies it */
    memcpy(copy, data, size);
    last.data = copy + (last.data - data);
    unwrap_check(data, size, n, &last);

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
