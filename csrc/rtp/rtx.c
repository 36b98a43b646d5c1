/* rtx.c - RTX packets (RFC 4588 4): a retransmission carries the original
 * packet's header on its own SSRC, payload type and sequence numbers, with
 * the original sequence number (OSN) in front of the payload. */
#include "util/sfu_common.h"
#include "sfu_packet.h"

#define OSN_LEN 2

int sfu_rtx_unwrap(uint8_t *pkt, uint32_t *len, const sfu_rtp_t *rtx, uint32_t media_ssrc, uint8_t media_pt,
                   sfu_rtp_t *out)
{
    /* nothing after the OSN is nothing to forward either */
    if (rtx->payload_len == 0 || rtx->payload_len == OSN_LEN)
        return SFU_DROP_RTX_PADDING;
    if (rtx->payload_len < OSN_LEN || (uint32_t)rtx->header_len + rtx->payload_len + rtx->pad_len > *len)
        return SFU_DROP_BAD_RTX;
    uint8_t *payload = pkt + rtx->header_len;
    uint16_t osn = sfu_rd16(payload);
    /* the payload and the padding behind it move over the OSN */
    memmove(payload, payload + OSN_LEN, (size_t)rtx->payload_len - OSN_LEN + rtx->pad_len);
    *len -= OSN_LEN;
    pkt[1] = (uint8_t)((pkt[1] & 0x80) | (media_pt & 0x7f));
    sfu_wr16(pkt + 2, osn);
    sfu_wr32(pkt + 8, media_ssrc);
    return sfu_rtp_parse(pkt, *len, out);
}

uint32_t sfu_rtx_wrap(uint8_t *dst, uint32_t cap, const uint8_t *src, const sfu_rtp_t *rtp, uint16_t osn,
                      uint32_t ssrc, uint8_t pt, uint16_t seq)
{
    uint32_t len = (uint32_t)rtp->header_len + OSN_LEN + rtp->payload_len;
    if (len > cap)
        return 0;
    memcpy(dst, src, rtp->header_len);
    dst[0] &= (uint8_t)~0x20;      /* the original's padding is not carried */
    dst[1] = (uint8_t)((src[1] & 0x80) | (pt & 0x7f));
    sfu_wr16(dst + 2, seq);
    sfu_wr32(dst + 8, ssrc);
    sfu_wr16(dst + rtp->header_len, osn);
    memcpy(dst + rtp->header_len + OSN_LEN, src + rtp->header_len, rtp->payload_len);
    return len;
}
