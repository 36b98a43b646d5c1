/* keyframe.c - which codec's rule decides whether an RTP packet starts a
 * key frame (a simulcast layer switch waits for one). */
#include "util/sfu_common.h"
#include "sfu_packet.h"
#include "rtp/codecs/codecs.h"

int sfu_rtp_is_keyframe(const uint8_t *buf, const sfu_rtp_t *rtp, int codec)
{
    const uint8_t *p = buf + rtp->header_len;
    size_t n = rtp->payload_len;
    switch (codec) {
    case SFU_CODEC_VP8:
        return sfu_vp8_is_keyframe(p, n);
    case SFU_CODEC_VP9:
        return sfu_vp9_is_keyframe(p, n);
    case SFU_CODEC_H264:
        return sfu_h264_is_keyframe(p, n);
    case SFU_CODEC_AV1:
        return sfu_av1_is_keyframe(p, n);
    default:
        return -1;
    }
}
