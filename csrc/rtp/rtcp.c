/* rtcp.c - compound RTCP walker and feedback parsing (RFC 3550, RFC 4585, RFC 5104). */
#include "util/sfu_common.h"
#include "sfu_packet.h"

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_RTPFB 205
#define RTCP_PSFB 206

int sfu_rtcp_next(const uint8_t *buf, size_t len, size_t *off, sfu_rtcp_t *out)
{
    size_t o = *off;
    if (o == len)
        return 0;
    if (o > len || len - o < 4)
        return -SFU_DROP_BAD_RTCP;
    const uint8_t *p = buf + o;
    if ((p[0] >> 6) != 2)
        return -SFU_DROP_BAD_RTCP;
    size_t plen = ((size_t)sfu_rd16(p + 2) + 1) * 4;
    if (plen > len - o)
        return -SFU_DROP_BAD_RTCP;
    size_t body = plen;                      /* bytes before the padding */
    if (p[0] & 0x20) {                       /* padding only allowed on the last packet */
        uint8_t pad = p[plen - 1];
        if (pad == 0 || pad > plen - 4 || o + plen != len)
            return -SFU_DROP_BAD_RTCP;
        body -= pad;
    }
    out->count = p[0] & 0x1f;
    out->pt = p[1];
    out->len = (uint16_t)plen;
    out->offset = (uint16_t)o;
    out->sender_ssrc = plen >= 8 ? sfu_rd32(p + 4) : 0;
    out->media_ssrc = 0;
    switch (out->pt) {
    case RTCP_SR:
        if (body < 28 + (size_t)out->count * 24)
            return -SFU_DROP_BAD_RTCP;
        break;
    case RTCP_RR:
        if (body < 8 + (size_t)out->count * 24)
            return -SFU_DROP_BAD_RTCP;
        break;
    case RTCP_RTPFB:
    case RTCP_PSFB:
        if (body < 12)
            return -SFU_DROP_BAD_RTCP;
        out->media_ssrc = sfu_rd32(p + 8);
        break;
    default:
        break;
    }
    *off = o + plen;
    return 1;
}

int sfu_rtcp_validate(const uint8_t *buf, size_t len)
{
    if (len < 8)
        return SFU_DROP_BAD_RTCP;
    if (len > SFU_MTU)
        return SFU_DROP_TOO_LONG;
    size_t off = 0;
    sfu_rtcp_t pkt;
    int n = 0, rc;
    while ((rc = sfu_rtcp_next(buf, len, &off, &pkt)) == 1) {
        /* RFC 3550 6.1: a compound packet starts with SR or RR; RFC 5506
         * reduced-size RTCP allows feedback alone, so accept either. */
        n++;
    }
    if (rc < 0 || n == 0)
        return SFU_DROP_BAD_RTCP;
    return SFU_DROP_NONE;
}

int sfu_rtcp_report_ssrcs(const uint8_t *buf, const sfu_rtcp_t *pkt, uint32_t *ssrcs, int cap)
{
    size_t first = pkt->pt == RTCP_SR ? 28 : pkt->pt == RTCP_RR ? 8 : 0;
    if (!first)
        return 0;
    const uint8_t *p = buf + pkt->offset;
    size_t body = pkt->len;
    if (p[0] & 0x20) {                       /* padding is not a report block */
        uint8_t pad = p[pkt->len - 1];
        if (pad > body - 4)
            return -SFU_DROP_BAD_RTCP;
        body -= pad;
    }
    if (body < first + 24 * (size_t)pkt->count)
        return -SFU_DROP_BAD_RTCP;
    int n = 0;
    for (int i = 0; i < pkt->count && n < cap; i++)
        ssrcs[n++] = sfu_rd32(p + first + 24 * (size_t)i);
    return n;
}

int sfu_rtcp_nack_seqs(const uint8_t *buf, const sfu_rtcp_t *pkt, uint16_t *seqs, int cap)
{
    if (pkt->pt != RTCP_RTPFB || pkt->count != 1 || pkt->len < 12)
        return -SFU_DROP_BAD_RTCP;
    const uint8_t *p = buf + pkt->offset;
    size_t body = pkt->len;
    if (p[0] & 0x20) {                       /* padding is not FCI */
        uint8_t pad = p[pkt->len - 1];
        if (pad > body - 4)
            return -SFU_DROP_BAD_RTCP;
        body -= pad;
    }
    if (body < 12 || (body - 12) % 4)
        return -SFU_DROP_BAD_RTCP;
    const uint8_t *fci = p + 12;
    size_t fci_len = body - 12;
    int n = 0;
    for (size_t i = 0; i + 4 <= fci_len; i += 4) {
        uint16_t pid = sfu_rd16(fci + i);
        uint16_t blp = sfu_rd16(fci + i + 2);
        if (n < cap)
            seqs[n++] = pid;
        for (int b = 0; b < 16; b++)
            if ((blp >> b) & 1) {
                if (n < cap)
                    seqs[n++] = (uint16_t)(pid + b + 1);
            }
    }
    return n;
}

/* REMB (draft-alvestrand-rmcat-remb-03 2.2): PSFB FMT=15, FCI "REMB", the
 * SSRC count, a 6-bit exponent and an 18-bit mantissa, then the SSRCs */
int sfu_rtcp_remb_bps(const uint8_t *buf, const sfu_rtcp_t *pkt, uint64_t *bps)
{
    if (pkt->pt != 206 || pkt->count != 15 || pkt->len < 20)
        return 0;
    const uint8_t *p = buf + pkt->offset;
    if (memcmp(p + 12, "REMB", 4) != 0)
        return 0;
    size_t body = pkt->len;
    if (p[0] & 0x20) {
        uint8_t pad = p[pkt->len - 1];
        if (pad > body - 4)
            return -SFU_DROP_BAD_RTCP;
        body -= pad;
    }
    uint8_t n_ssrc = p[16];
    if (body < 20 + 4 * (size_t)n_ssrc)
        return -SFU_DROP_BAD_RTCP;
    uint8_t exp = p[17] >> 2;
    uint64_t mantissa = ((uint64_t)(p[17] & 3) << 16) | sfu_rd16(p + 18);
    /* 2^63 is beyond any link: saturate instead of shifting bits out */
    *bps = exp > 45 ? UINT64_MAX : mantissa << exp;
    return 1;
}
