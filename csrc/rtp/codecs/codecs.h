/* codecs.h - per-codec key frame detection over an RTP payload (internal;
 * sfu_rtp_is_keyframe() in keyframe.c is the API).  Each returns 1 when the
 * payload starts a key frame, else 0, reading only payload[0..n). */
#ifndef SFU_CODECS_H
#define SFU_CODECS_H
#include <stddef.h>
#include <stdint.h>

int sfu_vp8_is_keyframe(const uint8_t *payload, size_t n);
int sfu_vp9_is_keyframe(const uint8_t *payload, size_t n);
int sfu_h264_is_keyframe(const uint8_t *payload, size_t n);
int sfu_av1_is_keyframe(const uint8_t *payload, size_t n);
#endif
