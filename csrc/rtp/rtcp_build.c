/* rtcp_build.c - the RTCP packets the data plane generates: sender and
 * receiver reports (RFC 3550 6.4), picture loss indications (RFC 4585
 * 6.3.1) and generic NACKs (RFC 4585 6.2.1).  Transport-cc feedback is
 * built by rtc/tcc_server.c. */
#include "util/sfu_common.h"
#include "sfu_packet.h"

uint32_t sfu_rtcp_build_sr(uint8_t *b, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts,
                           uint32_t packets, uint32_t octets)
{
    b[0] = 0x80;                   /* V=2, no report blocks */
    b[1] = 200;
    sfu_wr16(b + 2, 6);
    sfu_wr32(b + 4, ssrc);
    sfu_wr32(b + 8, (uint32_t)(ntp >> 32));
    sfu_wr32(b + 12, (uint32_t)ntp);
    sfu_wr32(b + 16, rtp_ts);
    sfu_wr32(b + 20, packets);
    sfu_wr32(b + 24, octets);
    return 28;
}

uint32_t sfu_rtcp_build_rr(uint8_t *b, uint32_t sender_ssrc, const uint8_t *block)
{
    b[0] = 0x81;                   /* V=2, one report block */
    b[1] = 201;
    sfu_wr16(b + 2, 7);
    sfu_wr32(b + 4, sender_ssrc);
    memcpy(b + 8, block, 24);
    return 32;
}

uint32_t sfu_rtcp_build_pli(uint8_t *b, uint32_t sender_ssrc, uint32_t media_ssrc)
{
    b[0] = 0x81;                   /* V=2, FMT=1 (PLI) */
    b[1] = 206;
    sfu_wr16(b + 2, 2);
    sfu_wr32(b + 4, sender_ssrc);
    sfu_wr32(b + 8, media_ssrc);
    return 12;
}

uint64_t sfu_ntp_from_unix_ns(uint64_t unix_ns)
{
    uint64_t sec = unix_ns / 1000000000ull + 2208988800ull;
    uint64_t frac = ((unix_ns % 1000000000ull) << 32) / 1000000000ull;
    return (sec << 32) | frac;
}

uint32_t sfu_rtcp_build_nack(uint8_t *b, uint32_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                             const uint16_t *seqs, uint32_t n, uint32_t *used)
{
    *used = 0;
    if (n == 0 || cap < 16)
        return 0;
    uint32_t len = 12, i = 0;
    while (i < n && len + 4 <= cap) {
        uint16_t pid = seqs[i++], blp = 0, last = 0;
        while (i < n) {
            uint16_t d = (uint16_t)(seqs[i] - pid);
            if (d < 1 || d > 16 || d <= last)
                break;             /* not in this pair's 16 (or out of order): a new pair */
            blp |= (uint16_t)(1u << (d - 1));
            last = d;
            i++;
        }
        sfu_wr16(b + len, pid);
        sfu_wr16(b + len + 2, blp);
        len += 4;
    }
    b[0] = 0x81;                   /* V=2, FMT=1 (generic NACK) */
    b[1] = 205;
    sfu_wr16(b + 2, (uint16_t)(len / 4 - 1));
    sfu_wr32(b + 4, sender_ssrc);
    sfu_wr32(b + 8, media_ssrc);
    *used = i;
    return len;
}
