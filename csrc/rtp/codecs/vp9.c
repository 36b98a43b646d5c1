/* vp9.c - VP9 key frame detection and layer indices (RFC 9628). */
#include "util/sfu_common.h"
#include "sfu_packet.h"
#include "rtp/codecs/codecs.h"

/* VP9 payload descriptor (RFC 9628): B=1 (start of frame), P=0 (not inter predicted),
 * and spatial layer 0 when layer indices are present */
int sfu_vp9_is_keyframe(const uint8_t *p, size_t n)
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

/* the layer indices of a VP9 payload descriptor (RFC 9628 4.2):
 * |I|P|L|F|B|E|V|Z|, then the picture id (I; 7 or 15 bits), then
 * |TID|U|SID|D| (L) */
int sfu_vp9_layers(const uint8_t *p, size_t n, sfu_video_layers_t *out)
{
    if (n < 1)
        return -1;
    uint8_t b0 = p[0];
    if (!(b0 & 0x20))
        return 0;
    size_t i = 1;
    if (b0 & 0x80) {
        if (i >= n)
            return -1;
        i += (p[i] & 0x80) ? 2 : 1;
    }
    if (i >= n)
        return -1;
    uint8_t l = p[i];
    out->temporal = (int8_t)(l >> 5);
    out->sync = (uint8_t)(((l >> 4) & 1) || out->temporal == 0);
    out->spatial = (int8_t)((l >> 1) & 0x07);
    out->start = (uint8_t)((b0 >> 3) & 1);
    out->end = (uint8_t)((b0 >> 2) & 1);
    return 1;
}
