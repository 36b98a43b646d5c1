/* fuzz_rtcp_build.c - the RTCP the data plane builds, round-tripped through
 * the RTCP parser: a sender report, a receiver report whose block comes from
 * receive statistics fed arbitrary packets, and a PLI, alone and as one
 * compound packet, and a generic NACK asking for the steps' sequence
 * numbers.  Input: 28 bytes of SR/PLI fields, then steps of 8 bytes
 * (sequence number, timestamp, arrival step) for the receive statistics;
 * a step whose first byte is 0xFF is a sender report arriving instead. */
#include "../util/common.c"
#include "../rtp/rtcp.c"
#include "../rtp/rtcp_build.c"
#include "../rtc/rtp_stream_recv.c"
#include "fuzz_common.h"

static uint32_t rd32le(const uint8_t *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }

static void walk(const uint8_t *b, size_t n, const uint8_t *want_pt, int count)
{
    FUZZ_CHECK(sfu_rtcp_validate(b, n) == SFU_DROP_NONE);
    size_t off = 0;
    sfu_rtcp_t p;
    for (int k = 0; k < count; k++) {
        FUZZ_CHECK(sfu_rtcp_next(b, n, &off, &p) == 1);
        FUZZ_CHECK(p.pt == want_pt[k]);
    }
    FUZZ_CHECK(sfu_rtcp_next(b, n, &off, &p) == 0 && off == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t f[28] = {0};
    memcpy(f, data, size < 28 ? size : 28);
    uint32_t ssrc = rd32le(f), media = rd32le(f + 4), rtp_ts = rd32le(f + 8), packets = rd32le(f + 12);
    uint32_t octets = rd32le(f + 16);
    uint64_t ntp = ((uint64_t)rd32le(f + 20) << 32) | rd32le(f + 24);
    uint8_t compound[SFU_RTCP_SR_LEN + SFU_RTCP_RR_LEN + SFU_RTCP_PLI_LEN];

    uint8_t *sr = compound;
    FUZZ_CHECK(sfu_rtcp_build_sr(sr, ssrc, ntp, rtp_ts, packets, octets) == SFU_RTCP_SR_LEN);
    static const uint8_t pt_sr[] = {200};
    walk(sr, SFU_RTCP_SR_LEN, pt_sr, 1);
    FUZZ_CHECK(sfu_rd32(sr + 4) == ssrc && sfu_rd32(sr + 8) == (uint32_t)(ntp >> 32) &&
               sfu_rd32(sr + 12) == (uint32_t)ntp && sfu_rd32(sr + 16) == rtp_ts &&
               sfu_rd32(sr + 20) == packets && sfu_rd32(sr + 24) == octets);

    /* receive statistics from the rest of the input */
    sfu_rtp_stream_recv_t rx;
    sfu_rtp_stream_recv_init(&rx, (f[0] & 1) ? 48000 : 90000);
    uint64_t now = 1000000000ull;
    int fed = 0;
    uint16_t seqs[SFU_MTU / 8];
    for (size_t i = 28; i + 8 <= size; i += 8) {
        const uint8_t *s = data + i;
        now += (uint64_t)s[6] * 1000000 + s[7];
        if (s[0] == 0xFF) {
            sfu_rtp_stream_recv_on_sr(&rx, rd32le(s), rd32le(s + 2), now);
            continue;
        }
        sfu_rtp_stream_recv_update(&rx, (uint16_t)(s[0] | (s[1] << 8)), rd32le(s + 2), now);
        seqs[fed++] = (uint16_t)(s[0] | (s[1] << 8));
    }
    uint8_t block[SFU_REPORT_BLOCK_LEN];
    int bn = sfu_rtp_stream_recv_report_block(&rx, media, now + 5, block);
    FUZZ_CHECK(bn == (fed ? SFU_REPORT_BLOCK_LEN : 0));
    if (!bn)
        memset(block, 0, sizeof block);
    else
        FUZZ_CHECK(sfu_rd32(block) == media && sfu_rd32(block + 8) == rx.cycles + rx.max_seq);
    uint8_t *rr = compound + SFU_RTCP_SR_LEN;
    FUZZ_CHECK(sfu_rtcp_build_rr(rr, ssrc, block) == SFU_RTCP_RR_LEN);
    static const uint8_t pt_rr[] = {201};
    walk(rr, SFU_RTCP_RR_LEN, pt_rr, 1);
    FUZZ_CHECK(memcmp(rr + 8, block, sizeof block) == 0);

    uint8_t *pli = rr + SFU_RTCP_RR_LEN;
    FUZZ_CHECK(sfu_rtcp_build_pli(pli, ssrc, media) == SFU_RTCP_PLI_LEN);
    size_t off = 0;
    sfu_rtcp_t p;
    FUZZ_CHECK(sfu_rtcp_next(pli, SFU_RTCP_PLI_LEN, &off, &p) == 1);
    FUZZ_CHECK(p.pt == 206 && p.count == 1 && p.sender_ssrc == ssrc && p.media_ssrc == media);

    static const uint8_t pt_all[] = {200, 201, 206};
    walk(compound, sizeof compound, pt_all, 3);

    /* the NACK asks for the sequence numbers it says it covers, in order */
    uint8_t nack[SFU_MTU];
    uint32_t cap = 16 + f[1] % (sizeof nack - 15), used = 0;
    uint32_t nn = sfu_rtcp_build_nack(nack, cap, ssrc, media, seqs, (uint32_t)fed, &used);
    FUZZ_CHECK(nn <= cap && used <= (uint32_t)fed && (nn == 0) == (fed == 0));
    if (nn) {
        static const uint8_t pt_nack[] = {205};
        walk(nack, nn, pt_nack, 1);
        FUZZ_CHECK(used > 0 && (used == (uint32_t)fed || nn + 4 > cap));
        sfu_rtcp_t np;
        size_t noff = 0;
        FUZZ_CHECK(sfu_rtcp_next(nack, nn, &noff, &np) == 1 && np.count == 1 && np.media_ssrc == media);
        uint16_t back[SFU_MTU / 8];
        int k = sfu_rtcp_nack_seqs(nack, &np, back, SFU_MTU / 8);
        FUZZ_CHECK(k == (int)used && memcmp(back, seqs, used * sizeof back[0]) == 0);
    }
    return 0;
}
