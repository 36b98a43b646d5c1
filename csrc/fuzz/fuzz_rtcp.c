/* fuzz_rtcp.c - sfu_rtcp_validate, the sfu_rtcp_next walk and
 * sfu_rtcp_nack_seqs on every RTPFB packet of a compound, sfu_rtcp_report_ssrcs
 * on every packet, sfu_rtcp_remb_bps
 * on every PSFB one. */
#include "../util/common.c"
#include "../rtp/rtcp.c"
#include "fuzz_common.h"

#define NACK_MAX ((SFU_MTU / 4) * 17) /* every FCI pair with all 16 bits set */

/* What sfu_rtcp_nack_seqs must produce: the PID and BLP pairs of the FCI
 * (packet body after the 12-byte header, padding excluded). */
static int nack_reference(const uint8_t *buf, const sfu_rtcp_t *pkt, uint16_t *seqs)
{
    if (pkt->pt != 205 || pkt->count != 1 || pkt->len < 12)
        return -SFU_DROP_BAD_RTCP;
    const uint8_t *p = buf + pkt->offset;
    size_t body = pkt->len;
    if (p[0] & 0x20)
        body -= p[pkt->len - 1];
    if (body < 12 || (body - 12) % 4)
        return -SFU_DROP_BAD_RTCP;
    int n = 0;
    for (size_t i = 12; i + 4 <= body; i += 4) {
        uint16_t pid = sfu_rd16(p + i), blp = sfu_rd16(p + i + 2);
        seqs[n++] = pid;
        for (int b = 0; b < 16; b++)
            if (blp & (1u << b))
                seqs[n++] = (uint16_t)(pid + b + 1);
    }
    return n;
}

static void check_nack(const uint8_t *data, const sfu_rtcp_t *pkt)
{
    static uint16_t want[NACK_MAX];
    int ref = nack_reference(data, pkt, want);
    static const int caps[] = {0, 1, 2, 16, 17, 18, 100, NACK_MAX};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        int cap = caps[c];
        /* exactly `cap` entries, so the sanitizer catches a write past them */
        uint16_t *got = malloc((size_t)cap * sizeof *got);
        FUZZ_CHECK(got != NULL || cap == 0);
        int n = sfu_rtcp_nack_seqs(data, pkt, got, cap);
        if (ref < 0) {
            FUZZ_CHECK(n == ref);
        } else {
            FUZZ_CHECK(n == (ref < cap ? ref : cap));
            FUZZ_CHECK(n == 0 || memcmp(got, want, (size_t)n * sizeof *got) == 0);
        }
        free(got);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    int vrc = sfu_rtcp_validate(data, size);
    FUZZ_CHECK(vrc == SFU_DROP_NONE || vrc == SFU_DROP_BAD_RTCP);

    size_t off = 0;
    int npkts = 0, rc;
    sfu_rtcp_t pkt;
    for (;;) {
        size_t before = off;
        memset(&pkt, 0xa5, sizeof pkt);
        rc = sfu_rtcp_next(data, size, &off, &pkt);
        if (rc != 1) {
            FUZZ_CHECK(off == before);
            break;
        }
        npkts++;
        const uint8_t *p = data + pkt.offset;
        FUZZ_CHECK(pkt.offset == before);
        FUZZ_CHECK(pkt.len >= 4 && pkt.len % 4 == 0);
        FUZZ_CHECK(off == before + pkt.len && off <= size);
        FUZZ_CHECK(pkt.len == ((size_t)sfu_rd16(p + 2) + 1) * 4);
        FUZZ_CHECK((p[0] >> 6) == 2);
        FUZZ_CHECK(pkt.count == (p[0] & 0x1f) && pkt.pt == p[1]);
        size_t body = pkt.len;
        if (p[0] & 0x20) { /* padding: last packet only, count within the packet */
            FUZZ_CHECK(off == size);
            FUZZ_CHECK(p[pkt.len - 1] >= 1 && p[pkt.len - 1] <= pkt.len - 4);
            body -= p[pkt.len - 1];
        }
        if (pkt.pt == 200)
            FUZZ_CHECK(body >= 28 + 24 * (size_t)pkt.count);
        if (pkt.pt == 201)
            FUZZ_CHECK(body >= 8 + 24 * (size_t)pkt.count);
        if (pkt.pt == 205 || pkt.pt == 206) {
            FUZZ_CHECK(body >= 12);
            FUZZ_CHECK(pkt.media_ssrc == sfu_rd32(p + 8));
        } else {
            FUZZ_CHECK(pkt.media_ssrc == 0);
        }
        FUZZ_CHECK(pkt.sender_ssrc == (pkt.len >= 8 ? sfu_rd32(p + 4) : 0));
        fuzz_touch(p, pkt.len);
        if (pkt.pt == 205)
            check_nack(data, &pkt);
        uint32_t ssrcs[31];
        int nr = sfu_rtcp_report_ssrcs(data, &pkt, ssrcs, 31);
        if (pkt.pt != 200 && pkt.pt != 201) {
            FUZZ_CHECK(nr == 0);
        } else if (nr >= 0) {   /* the blocks fit what is not padding; each starts with its SSRC */
            FUZZ_CHECK(nr == pkt.count);
            for (int i = 0; i < nr; i++)
                FUZZ_CHECK(ssrcs[i] == sfu_rd32(p + (pkt.pt == 200 ? 28 : 8) + 24 * i));
        } else {
            FUZZ_CHECK(nr == -SFU_DROP_BAD_RTCP && (p[0] & 0x20));
        }
        if (pkt.pt == 206) {
            uint64_t bps = 0;
            int r = sfu_rtcp_remb_bps(data, &pkt, &bps);
            FUZZ_CHECK(r == 0 || r == 1 || r == -SFU_DROP_BAD_RTCP);
            if (r == 1)   /* a REMB: its SSRC list fits what is not padding */
                FUZZ_CHECK(pkt.count == 15 && body >= 20 + 4 * (size_t)p[16] && memcmp(p + 12, "REMB", 4) == 0);
        }
    }
    FUZZ_CHECK(rc == 0 || rc == -SFU_DROP_BAD_RTCP);
    /* validate accepts exactly what walks cleanly (at least one packet) */
    int walk_ok = size >= 8 && rc == 0 && npkts > 0;
    FUZZ_CHECK((vrc == SFU_DROP_NONE) == walk_ok);
    return 0;
}
