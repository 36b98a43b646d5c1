/* rtp.c - bounds-checked RTP header parsing (RFC 3550, RFC 8285). */
#include "util/sfu_common.h"
#include "sfu_packet.h"

int sfu_rtp_parse(const uint8_t *buf, size_t len, sfu_rtp_t *out)
{
    if (len < 12)
        return SFU_DROP_TOO_SHORT;
    if (len > SFU_MTU)
        return SFU_DROP_TOO_LONG;
    if ((buf[0] >> 6) != 2)
        return SFU_DROP_BAD_VERSION;
    uint8_t padding = (buf[0] >> 5) & 1;
    uint8_t extension = (buf[0] >> 4) & 1;
    uint8_t cc = buf[0] & 0x0f;
    size_t off = 12 + (size_t)cc * 4;
    if (off > len)
        return SFU_DROP_BAD_CSRC;
    out->has_extension = extension;
    out->ext_profile = 0;
    out->ext_offset = 0;
    out->ext_len = 0;
    if (extension) {
        if (off + 4 > len)
            return SFU_DROP_BAD_EXTENSION;
        uint16_t profile = sfu_rd16(buf + off);
        size_t ext_bytes = (size_t)sfu_rd16(buf + off + 2) * 4;
        if (off + 4 + ext_bytes > len)
            return SFU_DROP_BAD_EXTENSION;
        out->ext_profile = profile;
        out->ext_offset = (uint16_t)(off + 4);
        out->ext_len = (uint16_t)ext_bytes;
        off += 4 + ext_bytes;
    }
    size_t pad = 0;
    if (padding) {
        pad = buf[len - 1];
        if (pad == 0 || off + pad > len)
            return SFU_DROP_BAD_PADDING;
    }
    out->marker = buf[1] >> 7;
    out->payload_type = buf[1] & 0x7f;
    out->seq = sfu_rd16(buf + 2);
    out->ts = sfu_rd32(buf + 4);
    out->ssrc = sfu_rd32(buf + 8);
    out->csrc_count = cc;
    out->header_len = (uint16_t)off;
    out->pad_len = (uint8_t)pad;
    out->payload_len = (uint16_t)(len - off - pad);
    out->layers.spatial = -1;
    out->layers.temporal = -1;
    out->layers.start = out->layers.end = out->layers.sync = 0;
    SFU_ASSERT((size_t)out->header_len + out->payload_len + out->pad_len == len);
    return SFU_DROP_NONE;
}

int sfu_rtp_find_ext(const uint8_t *buf, const sfu_rtp_t *rtp, int id, uint16_t *val_off)
{
    if (!rtp->has_extension || id <= 0)
        return -1;
    const uint8_t *p = buf + rtp->ext_offset;
    size_t n = rtp->ext_len, i = 0;
    if (rtp->ext_profile == 0xBEDE) {            /* one-byte form, ids 1..14 */
        while (i < n) {
            uint8_t b = p[i];
            if (b == 0) { i++; continue; }       /* padding */
            int eid = b >> 4;
            size_t elen = (size_t)(b & 0x0f) + 1;
            if (eid == 15)                       /* reserved: stop */
                return -1;
            if (i + 1 + elen > n)
                return -1;
            if (eid == id) {
                *val_off = (uint16_t)(rtp->ext_offset + i + 1);
                return (int)elen;
            }
            i += 1 + elen;
        }
    } else if ((rtp->ext_profile & 0xfff0) == 0x1000) { /* two-byte form */
        while (i < n) {
            uint8_t eid = p[i];
            if (eid == 0) { i++; continue; }
            if (i + 2 > n)
                return -1;
            size_t elen = p[i + 1];
            if (i + 2 + elen > n)
                return -1;
            if (eid == id) {
                *val_off = (uint16_t)(rtp->ext_offset + i + 2);
                return (int)elen;
            }
            i += 2 + elen;
        }
    }
    return -1;
}
