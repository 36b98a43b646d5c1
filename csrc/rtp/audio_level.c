/* audio_level.c - the RFC 6464 client-to-mixer audio level of an RTP packet:
 * one byte, V (voice activity) in the top bit, the level in -dBov in the other
 * seven (0 loudest, 127 silence). */
#include "util/sfu_common.h"
#include "sfu_packet.h"

int sfu_rtp_audio_level(const uint8_t *buf, const sfu_rtp_t *rtp, int id)
{
    uint16_t off;
    int n = sfu_rtp_find_ext(buf, rtp, id, &off);
    if (n < 1)                      /* absent, malformed, or an empty element */
        return -1;
    return buf[off];
}
