/* fuzz_rtx.c - sfu_rtx_unwrap on arbitrary datagrams taken as a
 * publisher's RTX packet, then sfu_rtx_wrap of what it restored: on
 * success the restored packet is the RTX packet minus its OSN with the
 * media SSRC, payload type and sequence number, and wrapping it again gives
 * the RTX packet back (without its padding); on a drop the packet is
 * untouched. */
#include "../util/common.c"
#include "../rtp/rtp.c"
#include "../rtp/rtx.c"
#include "fuzz_common.h"

#define MEDIA_SSRC 0x11223344u
#define MEDIA_PT 96

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    sfu_rtp_t rtx;
    if (sfu_rtp_parse(data, size, &rtx) != SFU_DROP_NONE)
        return 0;
    uint8_t pkt[SFU_MTU];
    memcpy(pkt, data, size);
    uint32_t len = (uint32_t)size;
    sfu_rtp_t orig;
    int rc = sfu_rtx_unwrap(pkt, &len, &rtx, MEDIA_SSRC, MEDIA_PT, &orig);
    if (rc != SFU_DROP_NONE) {
        FUZZ_CHECK(rc == SFU_DROP_RTX_PADDING || rc == SFU_DROP_BAD_RTX);
        FUZZ_CHECK(rc != SFU_DROP_RTX_PADDING || rtx.payload_len == 0 || rtx.payload_len == 2);
        FUZZ_CHECK(len == size && memcmp(pkt, data, size) == 0);
        return 0;
    }
    FUZZ_CHECK(rtx.payload_len > 2 && len == size - 2);
    FUZZ_CHECK(orig.seq == sfu_rd16(data + rtx.header_len) && orig.ssrc == MEDIA_SSRC &&
               orig.payload_type == MEDIA_PT && orig.marker == rtx.marker && orig.ts == rtx.ts);
    FUZZ_CHECK(orig.header_len == rtx.header_len && orig.payload_len == rtx.payload_len - 2 &&
               orig.pad_len == rtx.pad_len);
    FUZZ_CHECK(memcmp(pkt + 12, data + 12, rtx.header_len - 12) == 0);   /* CSRCs, extensions */
    FUZZ_CHECK(memcmp(pkt + orig.header_len, data + rtx.header_len + 2, orig.payload_len + orig.pad_len) == 0);
    fuzz_touch(pkt, len);

    uint8_t back[SFU_MTU];
    uint32_t n = sfu_rtx_wrap(back, sizeof back, pkt, &orig, orig.seq, rtx.ssrc, rtx.payload_type, rtx.seq);
    FUZZ_CHECK(n == (uint32_t)rtx.header_len + rtx.payload_len);
    FUZZ_CHECK(back[0] == (data[0] & ~0x20) && memcmp(back + 1, data + 1, n - 1) == 0);
    FUZZ_CHECK(sfu_rtx_wrap(back, n - 1, pkt, &orig, orig.seq, rtx.ssrc, rtx.payload_type, rtx.seq) == 0);
    return 0;
}
