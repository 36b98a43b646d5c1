/* vp8.c - VP8 key frame detection (RFC 7741). */
#include "util/sfu_common.h"
#include "rtp/codecs/codecs.h"

/* VP8 payload descriptor (RFC 7741 4.2), then the VP8 frame header's P bit */
int sfu_vp8_is_keyframe(const uint8_t *p, size_t n)
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
