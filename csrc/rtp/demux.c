/* demux.c - first-byte classification of datagrams on a shared port.
 * RFC 7983: [0..3] STUN, [20..63] DTLS, [128..191] RTP/RTCP;
 * RFC 5761: RTCP when the second byte (PT incl. marker bit) is 192..223. */
#include "util/sfu_common.h"
#include "sfu_packet.h"

int sfu_demux(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return SFU_PKT_UNKNOWN;
    uint8_t b = buf[0];
    if (b <= 3)
        return len >= 20 ? SFU_PKT_STUN : SFU_PKT_UNKNOWN;
    if (b >= 20 && b <= 63)
        return len >= 13 ? SFU_PKT_DTLS : SFU_PKT_UNKNOWN;
    if (b >= 128 && b <= 191) {
        if (len < 2)
            return SFU_PKT_UNKNOWN;
        uint8_t pt = buf[1];
        if (pt >= 192 && pt <= 223)
            return len >= 8 ? SFU_PKT_RTCP : SFU_PKT_UNKNOWN;
        return len >= 12 ? SFU_PKT_RTP : SFU_PKT_UNKNOWN;
    }
    return SFU_PKT_UNKNOWN;
}
