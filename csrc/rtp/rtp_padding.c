/* rtp_padding.c - padding-only RTP packets (RFC 3550 5.1: the P bit set,
 * the whole payload padding, its last byte the count), as bandwidth probes
 * are sent on a subscriber's video stream.  No header extension: the
 * transport-wide sequence number is stamped afterwards like on any other
 * packet (tcc_seq_stamp.c). */
#include "util/sfu_common.h"
#include "sfu_packet.h"

uint32_t sfu_rtp_build_padding(uint8_t *b, size_t cap, uint8_t payload_type, uint16_t seq, uint32_t ts,
                               uint32_t ssrc, uint32_t pad_len)
{
    if (pad_len == 0 || pad_len > SFU_RTP_PADDING_MAX || cap < 12 + (size_t)pad_len)
        return 0;
    b[0] = 0xA0;                                 /* V=2, P=1, X=0, CC=0 */
    b[1] = payload_type & 0x7f;                  /* M=0 */
    sfu_wr16(b + 2, seq);
    sfu_wr32(b + 4, ts);
    sfu_wr32(b + 8, ssrc);
    /* zeros, then the count: what receivers (and libwebrtc) expect of padding */
    memset(b + 12, 0, pad_len - 1);
    b[12 + pad_len - 1] = (uint8_t)pad_len;
    return 12 + pad_len;
}
