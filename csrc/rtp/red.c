/* red.c - RED payloads (RFC 2198; sfu_packet.h): the audio consumer of a
 * subscriber that negotiated red/48000/2 sends each Opus packet with the two
 * before it, so a lost packet is rebuilt from the next one without a
 * retransmission round trip. */
#include "util/sfu_common.h"
#include "sfu_packet.h"

#define BLOCK_HEADER 4
#define PRIMARY_HEADER 1

uint32_t sfu_red_build(uint8_t *out, uint32_t cap, uint8_t pt, const sfu_red_block_t *blocks, uint32_t n,
                       const uint8_t *primary, uint32_t primary_len)
{
    if (n > SFU_RED_MAX_BLOCKS)
        return 0;
    uint64_t total = PRIMARY_HEADER + (uint64_t)primary_len;
    for (uint32_t i = 0; i < n; i++) {
        if (blocks[i].len > SFU_RED_MAX_BLOCK_LEN || blocks[i].ts_offset > SFU_RED_MAX_TS_OFFSET)
            return 0;
        total += BLOCK_HEADER + (uint64_t)blocks[i].len;
    }
    if (total > cap)
        return 0;
    uint8_t *w = out;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = 0x80000000u | ((uint32_t)(pt & 0x7f) << 24) | ((uint32_t)blocks[i].ts_offset << 10) |
                     blocks[i].len;
        sfu_wr32(w, h);
        w += BLOCK_HEADER;
    }
    *w++ = (uint8_t)(pt & 0x7f);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(w, blocks[i].data, blocks[i].len);
        w += blocks[i].len;
    }
    memcpy(w, primary, primary_len);
    w += primary_len;
    return (uint32_t)(w - out);
}

int sfu_red_parse(const uint8_t *payload, uint32_t len, sfu_red_block_t *blocks, uint32_t cap)
{
    uint32_t off = 0, n = 0, data_len = 0;
    sfu_red_block_t found[SFU_RED_PARSE_MAX];
    for (;;) {
        if (off >= len)
            return -1;                    /* the primary's header is missing */
        if (!(payload[off] & 0x80))
            break;
        if (n + 1 >= SFU_RED_PARSE_MAX || len - off < BLOCK_HEADER)
            return -1;
        uint32_t h = sfu_rd32(payload + off);
        found[n].payload_type = (uint8_t)((h >> 24) & 0x7f);
        found[n].ts_offset = (uint16_t)((h >> 10) & 0x3fff);
        found[n].len = (uint16_t)(h & 0x3ff);
        data_len += found[n].len;
        n++;
        off += BLOCK_HEADER;
    }
    found[n].payload_type = payload[off] & 0x7f;
    found[n].ts_offset = 0;
    off += PRIMARY_HEADER;
    if (data_len > len - off)
        return -1;                        /* the earlier blocks run past the payload */
    uint32_t primary_len = len - off - data_len;
    if (primary_len > 0xffff)
        return -1;
    found[n].len = (uint16_t)primary_len;
    n++;
    for (uint32_t i = 0; i < n; i++) {
        found[i].data = payload + off;
        off += found[i].len;
    }
    uint32_t k = n < cap ? n : cap;
    for (uint32_t i = 0; i < k; i++)
        blocks[i] = found[i];
    return (int)n;
}

int sfu_red_unwrap(uint8_t *pkt, uint32_t *len, const sfu_rtp_t *red, uint8_t pt, sfu_rtp_t *out,
                   uint8_t (*blocks)[SFU_RED_MAX_BLOCK_LEN], uint16_t *block_lens, uint16_t *seqs,
                   uint32_t *ts, uint32_t cap, uint32_t *n_blocks)
{
    *n_blocks = 0;
    if ((uint32_t)red->header_len + red->payload_len + red->pad_len > *len)
        return SFU_DROP_BAD_RED;
    if (red->payload_len == 0) {
        /* padding only (the publisher's bandwidth probe on its audio SSRC): no blocks, on pt
         * as any of its packets */
        pkt[1] = (uint8_t)((pkt[1] & 0x80) | (pt & 0x7f));
        return sfu_rtp_parse(pkt, *len, out);
    }
    sfu_red_block_t b[SFU_RED_PARSE_MAX];
    int n = sfu_red_parse(pkt + red->header_len, red->payload_len, b, SFU_RED_PARSE_MAX);
    if (n < 1)
        return SFU_DROP_BAD_RED;
    uint32_t earlier = (uint32_t)n - 1;
    uint32_t first = earlier > cap ? earlier - cap : 0;     /* keep the newest ones */
    for (uint32_t i = first; i < earlier; i++) {
        uint32_t k = i - first;
        memcpy(blocks[k], b[i].data, b[i].len);            /* out of pkt before it is rewritten */
        block_lens[k] = b[i].len;
        seqs[k] = (uint16_t)(red->seq - (earlier - i));
        ts[k] = red->ts - b[i].ts_offset;
    }
    *n_blocks = earlier - first;
    const sfu_red_block_t *primary = &b[n - 1];
    memmove(pkt + red->header_len, primary->data, primary->len);
    pkt[0] &= (uint8_t)~0x20;                              /* its padding is gone with the RED payload */
    pkt[1] = (uint8_t)((pkt[1] & 0x80) | (pt & 0x7f));
    *len = (uint32_t)red->header_len + primary->len;
    return sfu_rtp_parse(pkt, *len, out);
}
