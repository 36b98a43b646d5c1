/* rtp.c - bounds-checked RTP header parsing (RFC 3550, RFC 8285). */
#include "util/sfu_common.h"

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

/* VP8 payload descriptor (RFC 7741 4.2), then the VP8 frame header's P bit */
static int vp8_keyframe(const uint8_t *p, size_t n)
{
    if (n < 1)
        return 0;
    size_t i = 1;
    uint8_t b0 = p[0];
    int start = (b0 & 0x10) && (b0 & 0x07) == 0;       /* S=1, PID=0 */
    if (b0 & 0x80) {                                     /* X: extensions */
        if (n < 2)
            return 0;
        uint8_t x = p[1];
        i = 2;
        if (x & 0x80) {                                  /* I: picture id */
            if (i >= n)
                return 0;
            i += (p[i] & 0x80) ? 2 : 1;
        }
        if (x & 0x40)                                    /* L: TL0PICIDX */
            i++;
        if (x & 0x30)                                    /* T or K */
            i++;
    }
    if (!start || i >= n)
        return 0;
    return (p[i] & 0x01) == 0;                           /* P=0: key frame */
}

/* VP9 payload descriptor (RFC 9628): B=1 (start of frame), P=0 (not inter predicted),
 * and spatial layer 0 when layer indices are present */
static int vp9_keyframe(const uint8_t *p, size_t n)
{
    if (n < 1)
        return 0;
    uint8_t b0 = p[0];
    int inter = b0 & 0x40, begin = b0 & 0x08, layers = b0 & 0x20;
    if (!begin || inter)
        return 0;
    if (layers) {
        size_t i = 1;
        if (b0 & 0x80) {                                 /* I: picture id */
            if (i >= n)
                return 0;
            i += (p[i] & 0x80) ? 2 : 1;
        }
        if (i >= n)
            return 0;
        if ((p[i] >> 1) & 0x07)                          /* SID != 0 */
            return 0;
    }
    return 1;
}

/* H.264 (RFC 6184): an IDR slice or SPS in a single NAL, STAP-A or the first FU-A */
static int h264_keyframe(const uint8_t *p, size_t n)
{
    if (n < 1)
        return 0;
    uint8_t type = p[0] & 0x1f;
    if (type == 5 || type == 7)
        return 1;
    if (type == 24) {                                    /* STAP-A */
        size_t i = 1;
        while (i + 2 < n) {
            size_t sz = sfu_rd16(p + i);
            if (sz == 0 || i + 2 + sz > n)
                return 0;
            uint8_t t = p[i + 2] & 0x1f;
            if (t == 5 || t == 7)
                return 1;
            i += 2 + sz;
        }
        return 0;
    }
    if (type == 28 && n >= 2)                            /* FU-A: start bit and IDR */
        return (p[1] & 0x80) && (p[1] & 0x1f) == 5;
    return 0;
}

int sfu_rtp_is_keyframe(const uint8_t *buf, const sfu_rtp_t *rtp, int codec)
{
    const uint8_t *p = buf + rtp->header_len;
    size_t n = rtp->payload_len;
    switch (codec) {
    case SFU_CODEC_VP8:
        return vp8_keyframe(p, n);
    case SFU_CODEC_VP9:
        return vp9_keyframe(p, n);
    case SFU_CODEC_H264:
        return h264_keyframe(p, n);
    default:
        return -1;
    }
}
