/* fuzz_tcc_seq_stamp.c - the transport-wide sequence number stamp
 * (csrc/rtp/tcc_seq_stamp.c) on arbitrary RTP packets.  Input: byte 0 picks
 * the id (1 + byte % 14), byte 1 the room past the packet (cap = len + byte,
 * at most the MTU), the rest is the packet.  A stamped packet must parse,
 * be 0, 4 or 8 bytes longer and within cap, carry the number under the id,
 * and keep its payload, CSRCs and every other element's value. */
#include "../util/common.c"
#include "../rtp/rtp.c"
#include "../rtp/tcc_seq_stamp.c"
#include "fuzz_common.h"

#define SEQ 0xBEEF

static uint8_t before[SFU_MTU], after[SFU_MTU];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size - 2 > SFU_MTU)
        return 0;
    uint8_t id = (uint8_t)(1 + data[0] % 14);
    uint32_t len = (uint32_t)(size - 2);
    uint32_t cap = len + data[1] > SFU_MTU ? SFU_MTU : len + data[1];
    memcpy(before, data + 2, len);
    sfu_rtp_t rtp;
    if (sfu_rtp_parse(before, len, &rtp) != SFU_DROP_NONE)
        return 0;
    memcpy(after, before, len);
    uint32_t n = sfu_tcc_seq_stamp(after, len, cap, &rtp, id, SEQ);
    if (n == 0)
        return 0;
    FUZZ_CHECK(n <= cap && (n == len || n == len + 4 || n == len + 8));
    sfu_rtp_t out;
    FUZZ_CHECK(sfu_rtp_parse(after, n, &out) == SFU_DROP_NONE);
    uint16_t off;
    FUZZ_CHECK(sfu_rtp_find_ext(after, &out, id, &off) == 2);
    FUZZ_CHECK(sfu_rd16(after + off) == SEQ);
    FUZZ_CHECK(out.payload_len == rtp.payload_len && out.pad_len == rtp.pad_len);
    FUZZ_CHECK(memcmp(after + out.header_len, before + rtp.header_len, rtp.payload_len) == 0);
    FUZZ_CHECK(out.csrc_count == rtp.csrc_count && memcmp(after + 12, before + 12, 4u * rtp.csrc_count) == 0);
    for (int other = 1; other < 15; other++) {
        if (other == id)
            continue;
        uint16_t o1, o2;
        int l1 = sfu_rtp_find_ext(before, &rtp, other, &o1);
        int l2 = sfu_rtp_find_ext(after, &out, other, &o2);
        FUZZ_CHECK(l1 == l2);
        if (l1 > 0)
            FUZZ_CHECK(memcmp(before + o1, after + o2, (size_t)l1) == 0);
    }
    return 0;
}
