/* fuzz_rtp_padding.c - padding-only RTP packets (csrc/rtp/rtp_padding.c)
 * built from arbitrary fields, then given a transport-wide sequence number
 * as probes are (tcc_seq_stamp.c).  Input: payload type, seq (2), ts (4),
 * ssrc (4), padding length (2, little-endian, may be out of range), room
 * (2, little-endian, at most the MTU), extension id.  A packet built must
 * be 12 + padding bytes within the room, parse with exactly that padding
 * and no payload, carry the fields given, and stay all padding once
 * stamped. */
#include "../util/common.c"
#include "../rtp/rtp.c"
#include "../rtp/rtp_padding.c"
#include "../rtp/tcc_seq_stamp.c"
#include "fuzz_common.h"

static uint8_t pkt[SFU_MTU];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t f[16] = {0};
    memcpy(f, data, size < 16 ? size : 16);
    uint8_t pt = f[0];
    uint16_t seq = (uint16_t)(f[1] << 8 | f[2]);
    uint32_t ts = (uint32_t)f[3] << 24 | (uint32_t)f[4] << 16 | (uint32_t)f[5] << 8 | f[6];
    uint32_t ssrc = (uint32_t)f[7] << 24 | (uint32_t)f[8] << 16 | (uint32_t)f[9] << 8 | f[10];
    uint32_t pad_len = (uint32_t)(f[11] | f[12] << 8);
    size_t cap = (size_t)(f[13] | f[14] << 8) % (SFU_MTU + 1);
    uint8_t id = (uint8_t)(1 + f[15] % 14);
    uint32_t n = sfu_rtp_build_padding(pkt, cap, pt, seq, ts, ssrc, pad_len);
    if (pad_len == 0 || pad_len > SFU_RTP_PADDING_MAX || cap < 12 + pad_len) {
        FUZZ_CHECK(n == 0);
        return 0;
    }
    FUZZ_CHECK(n == 12 + pad_len && n <= cap);
    sfu_rtp_t rtp;
    FUZZ_CHECK(sfu_rtp_parse(pkt, n, &rtp) == SFU_DROP_NONE);
    FUZZ_CHECK(rtp.payload_len == 0 && rtp.pad_len == pad_len && rtp.marker == 0 && !rtp.has_extension);
    FUZZ_CHECK(rtp.payload_type == (pt & 0x7f) && rtp.seq == seq && rtp.ts == ts && rtp.ssrc == ssrc);
    uint32_t m = sfu_tcc_seq_stamp(pkt, n, SFU_MTU, &rtp, id, 0xBEEF);
    FUZZ_CHECK(m == n + 8);
    sfu_rtp_t out;
    FUZZ_CHECK(sfu_rtp_parse(pkt, m, &out) == SFU_DROP_NONE);
    FUZZ_CHECK(out.payload_len == 0 && out.pad_len == pad_len && out.has_extension);
    uint16_t off;
    FUZZ_CHECK(sfu_rtp_find_ext(pkt, &out, id, &off) == 2 && sfu_rd16(pkt + off) == 0xBEEF);
    return 0;
}
