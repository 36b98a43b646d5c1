/* h264.c - H.264 key frame detection (RFC 6184). */
#include "util/sfu_common.h"
#include "rtp/codecs/codecs.h"

/* H.264 (RFC 6184): an IDR slice or SPS in a single NAL, STAP-A or the first FU-A */
int sfu_h264_is_keyframe(const uint8_t *p, size_t n)
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
