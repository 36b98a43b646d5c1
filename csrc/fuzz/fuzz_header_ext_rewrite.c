/* fuzz_header_ext_rewrite.c - sfu_header_ext_rewrite on arbitrary packets
 * and id maps: input = 16 bytes of map (as the worker allows: 0..14), then
 * an RTP packet.  Only the extension block may change; every element the
 * output holds sits where the input had one whose id maps to it, with the
 * same length and value; the rewrite of the output with the identity map
 * changes nothing. */
#include "../util/common.c"
#include "../rtp/rtp.c"
#include "../rtc/header_ext_rewrite.c"
#include "fuzz_common.h"

static uint8_t out[SFU_MTU], again[SFU_MTU];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16 || size - 16 > SFU_MTU)
        return 0;
    uint8_t map[16], identity[16];
    for (int i = 0; i < 16; i++) {
        map[i] = data[i] & 0x0f;
        if (map[i] == 15)
            map[i] = 0;
        identity[i] = (uint8_t)(i < 15 ? i : 0);
    }
    const uint8_t *pkt = data + 16;
    size_t len = size - 16;
    sfu_rtp_t rtp;
    if (sfu_rtp_parse(pkt, len, &rtp) != SFU_DROP_NONE || !rtp.has_extension)
        return 0;
    memcpy(out, pkt, len);
    sfu_header_ext_rewrite(out, &rtp, map);

    /* outside the extension block nothing changes, and the packet still parses the same */
    size_t lo = rtp.ext_offset, hi = (size_t)rtp.ext_offset + rtp.ext_len;
    FUZZ_CHECK(memcmp(out, pkt, lo) == 0);
    FUZZ_CHECK(memcmp(out + hi, pkt + hi, len - hi) == 0);
    sfu_rtp_t r2;
    FUZZ_CHECK(sfu_rtp_parse(out, len, &r2) == SFU_DROP_NONE);
    FUZZ_CHECK(r2.header_len == rtp.header_len && r2.ext_len == rtp.ext_len && r2.payload_len == rtp.payload_len);

    /* every element of the output came from the input under the map */
    int one_byte = rtp.ext_profile == 0xBEDE;
    int two_byte = (rtp.ext_profile & 0xfff0) == 0x1000;
    for (int id = 1; id <= 255; id++) {
        uint16_t off;
        int n = sfu_rtp_find_ext(out, &r2, id, &off);
        if (n < 0)
            continue;
        FUZZ_CHECK(one_byte || two_byte);
        FUZZ_CHECK(id <= 14);
        int in_id = one_byte ? pkt[off - 1] >> 4 : pkt[off - 2];
        FUZZ_CHECK(in_id < 16 && map[in_id] == id);
        FUZZ_CHECK(one_byte ? (pkt[off - 1] & 0x0f) + 1 == n : pkt[off - 1] == n);
        FUZZ_CHECK(memcmp(out + off, pkt + off, (size_t)n) == 0);
    }
    if (!one_byte && !two_byte) {
        for (size_t i = lo; i < hi; i++)
            FUZZ_CHECK(out[i] == 0);
    }

    /* the output is in the form the rewrite leaves: a second pass with the identity map keeps it */
    memcpy(again, out, len);
    sfu_header_ext_rewrite(again, &r2, identity);
    FUZZ_CHECK(memcmp(again, out, len) == 0);
    return 0;
}
