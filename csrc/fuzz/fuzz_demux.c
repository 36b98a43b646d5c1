/* fuzz_demux.c - first-byte demultiplexing, then the parser the class
 * selects, as the receive path does it. */
#include "../util/common.c"
#include "../rtp/demux.c"
#include "../rtp/rtp.c"
#include "../rtp/rtcp.c"
#include "../rtp/stun.c"
#include "fuzz_common.h"

/* RFC 7983 / RFC 5761 ranges, written out independently of demux.c */
static int expected_class(const uint8_t *d, size_t n)
{
    if (n == 0)
        return SFU_PKT_UNKNOWN;
    if (d[0] < 4)
        return n >= 20 ? SFU_PKT_STUN : SFU_PKT_UNKNOWN;
    if (d[0] > 19 && d[0] < 64)
        return n >= 13 ? SFU_PKT_DTLS : SFU_PKT_UNKNOWN;
    if (d[0] > 127 && d[0] < 192) {
        if (n < 2)
            return SFU_PKT_UNKNOWN;
        if (d[1] > 191 && d[1] < 224)
            return n >= 8 ? SFU_PKT_RTCP : SFU_PKT_UNKNOWN;
        return n >= 12 ? SFU_PKT_RTP : SFU_PKT_UNKNOWN;
    }
    return SFU_PKT_UNKNOWN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    int cls = sfu_demux(data, size);
    FUZZ_CHECK(cls == expected_class(data, size));
    switch (cls) {
    case SFU_PKT_STUN: {
        uint16_t uoff, ulen;
        int rc = sfu_stun_check(data, size, &uoff, &ulen);
        FUZZ_CHECK(rc == SFU_DROP_NONE || rc == SFU_DROP_BAD_STUN);
        if (rc == SFU_DROP_NONE)
            fuzz_touch(data + uoff, ulen);
        break;
    }
    case SFU_PKT_RTP: {
        sfu_rtp_t rtp;
        int rc = sfu_rtp_parse(data, size, &rtp);
        /* the class already guarantees length and version */
        FUZZ_CHECK(rc != SFU_DROP_TOO_SHORT && rc != SFU_DROP_BAD_VERSION &&
                   rc != SFU_DROP_TOO_LONG);
        if (rc == SFU_DROP_NONE) {
            fuzz_touch(data + rtp.header_len, rtp.payload_len);
            for (int id = 1; id <= 255; id++) {
                uint16_t off;
                int n = sfu_rtp_find_ext(data, &rtp, id, &off);
                if (n >= 0) {
                    FUZZ_CHECK((size_t)off + (size_t)n <= rtp.header_len);
                    fuzz_touch(data + off, (size_t)n);
                }
            }
        }
        break;
    }
    case SFU_PKT_RTCP: {
        int rc = sfu_rtcp_validate(data, size);
        FUZZ_CHECK(rc == SFU_DROP_NONE || rc == SFU_DROP_BAD_RTCP);
        if (rc != SFU_DROP_NONE)
            break;
        size_t off = 0;
        sfu_rtcp_t pkt;
        uint16_t seqs[64];
        int r;
        while ((r = sfu_rtcp_next(data, size, &off, &pkt)) == 1) {
            if (pkt.pt == 205 && pkt.count == 1) {
                int n = sfu_rtcp_nack_seqs(data, &pkt, seqs, 64);
                FUZZ_CHECK(n <= 64 && (n >= 0 || n == -SFU_DROP_BAD_RTCP));
            }
        }
        FUZZ_CHECK(r == 0); /* validated, so the walk ends cleanly */
        break;
    }
    case SFU_PKT_DTLS:
        /* handed to the control plane as is: record header present */
        FUZZ_CHECK(size >= 13);
        break;
    default:
        FUZZ_CHECK(cls == SFU_PKT_UNKNOWN);
        break;
    }
    return 0;
}
