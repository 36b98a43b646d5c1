/* av1.c - AV1 key frame detection (RTP Payload Format for AV1, AOMedia, section 4.4). */
#include "util/sfu_common.h"
#include "rtp/codecs/codecs.h"

/* The aggregation header's N bit marks the first packet of a coded video
 * sequence, which begins with a key frame (libwebrtc sets it on the first
 * packet of every key frame); Z=1 would mean the packet continues an OBU of
 * an earlier one.  The dependency descriptor is not needed for this. */
int sfu_av1_is_keyframe(const uint8_t *p, size_t n)
{
    if (n < 2)                     /* the header and at least one byte of OBU data */
        return 0;
    uint8_t z = p[0] & 0x80, first_of_sequence = p[0] & 0x08;
    return first_of_sequence && !z;
}
