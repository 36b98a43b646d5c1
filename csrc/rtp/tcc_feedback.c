/* tcc_feedback.c - the transport-cc feedback parser (RTCP RTPFB FMT=15,
 * draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1), the
 * send side's view of what a receiver reports: base sequence number,
 * 24-bit reference time (64 ms units), then packet status chunks
 * (run-length, or status vectors of 14 one-bit or 7 two-bit symbols) and
 * one receive delta per received packet (one byte unsigned or two bytes
 * signed, 250 µs units).  Every length is checked against the RTCP length
 * field; a packet that cannot be read completely is rejected with a named
 * reason and nothing of it is used. */
#include "util/sfu_common.h"
#include "sfu_packet.h"

#define TCC_HEADER_LEN 20          /* RTCP header, two SSRCs, base, count, ref, fb count */

static const char *const reject_names[SFU_TCC_FB__COUNT] = {
    [SFU_TCC_FB_OK] = "ok",
    [SFU_TCC_FB_TOO_SHORT] = "too_short",
    [SFU_TCC_FB_NOT_TCC] = "not_tcc",
    [SFU_TCC_FB_BAD_PADDING] = "bad_padding",
    [SFU_TCC_FB_NO_PACKETS] = "no_packets",
    [SFU_TCC_FB_TOO_MANY] = "too_many",
    [SFU_TCC_FB_CHUNKS_TRUNCATED] = "chunks_truncated",
    [SFU_TCC_FB_BAD_SYMBOL] = "bad_symbol",
    [SFU_TCC_FB_DELTAS_TRUNCATED] = "deltas_truncated",
};

const char *sfu_tcc_feedback_reject_name(int reason)
{
    if (reason < 0 || reason >= SFU_TCC_FB__COUNT || !reject_names[reason])
        return "invalid";
    return reject_names[reason];
}

/* the symbols of one chunk appended to pkts[*n ..).status, never past `count` */
static int read_chunk(uint16_t chunk, sfu_tcc_feedback_packet_t *pkts, uint32_t *n, uint32_t count)
{
    if (!(chunk & 0x8000)) {                      /* run length: T=0, S (2 bits), length (13 bits) */
        uint8_t s = (uint8_t)((chunk >> 13) & 3);
        uint32_t run = chunk & 0x1FFF;
        if (run > count - *n)
            run = count - *n;
        if (s == 3 && run)
            return SFU_TCC_FB_BAD_SYMBOL;
        for (uint32_t k = 0; k < run; k++)
            pkts[(*n)++].status = s;
        return SFU_TCC_FB_OK;
    }
    int two_bit = (chunk >> 14) & 1;
    int symbols = two_bit ? 7 : 14;
    for (int j = 0; j < symbols && *n < count; j++) {
        uint8_t s = two_bit ? (uint8_t)((chunk >> (12 - 2 * j)) & 3) : (uint8_t)((chunk >> (13 - j)) & 1);
        if (s == 3)
            return SFU_TCC_FB_BAD_SYMBOL;
        pkts[(*n)++].status = s;
    }
    return SFU_TCC_FB_OK;
}

int sfu_tcc_feedback_parse(const uint8_t *buf, size_t len, sfu_tcc_feedback_t *fb,
                           sfu_tcc_feedback_packet_t *pkts, uint32_t cap)
{
    memset(fb, 0, sizeof(*fb));
    if (len < 4)
        return SFU_TCC_FB_TOO_SHORT;
    if ((buf[0] >> 6) != 2 || (buf[0] & 0x1F) != 15 || buf[1] != 205)
        return SFU_TCC_FB_NOT_TCC;
    size_t plen = ((size_t)sfu_rd16(buf + 2) + 1) * 4;
    if (plen > len || plen < TCC_HEADER_LEN + 2)   /* at least one chunk */
        return SFU_TCC_FB_TOO_SHORT;
    size_t end = plen;
    if (buf[0] & 0x20) {                           /* RFC 3550 6.4.1 padding: last byte counts it */
        uint8_t pad = buf[plen - 1];
        if (pad == 0 || pad > plen - TCC_HEADER_LEN)
            return SFU_TCC_FB_BAD_PADDING;
        end = plen - pad;
    }
    fb->sender_ssrc = sfu_rd32(buf + 4);
    fb->media_ssrc = sfu_rd32(buf + 8);
    fb->base_seq = sfu_rd16(buf + 12);
    fb->status_count = sfu_rd16(buf + 14);
    fb->reference_time = ((uint32_t)buf[16] << 16) | ((uint32_t)buf[17] << 8) | buf[18];
    fb->fb_count = buf[19];
    uint32_t count = fb->status_count;
    if (count == 0)
        return SFU_TCC_FB_NO_PACKETS;
    if (count > cap)
        return SFU_TCC_FB_TOO_MANY;

    /* symbols first: they say how many delta bytes follow */
    size_t off = TCC_HEADER_LEN;
    uint32_t n = 0;
    while (n < count) {
        if (off + 2 > end)
            return SFU_TCC_FB_CHUNKS_TRUNCATED;
        int r = read_chunk(sfu_rd16(buf + off), pkts, &n, count);
        if (r != SFU_TCC_FB_OK)
            return r;
        off += 2;
    }
    /* receive deltas: the first from the reference time, each next from the previous received packet */
    int64_t at = 0;
    uint32_t received = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t s = pkts[i].status;
        int32_t d = 0;
        if (s == 1) {
            if (off + 1 > end)
                return SFU_TCC_FB_DELTAS_TRUNCATED;
            d = buf[off];
            off += 1;
        } else if (s == 2) {
            if (off + 2 > end)
                return SFU_TCC_FB_DELTAS_TRUNCATED;
            d = (int16_t)sfu_rd16(buf + off);
            off += 2;
        }
        if (s)
            at += (int64_t)d * SFU_TCC_DELTA_UNIT_US;
        pkts[i].seq = (uint16_t)(fb->base_seq + i);
        pkts[i].arrival_offset_us = s ? at : 0;
        received += s != 0;
    }
    fb->received = received;
    return SFU_TCC_FB_OK;
}
