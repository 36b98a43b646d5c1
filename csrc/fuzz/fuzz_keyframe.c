/* fuzz_keyframe.c - the per-codec key frame rules (csrc/rtp/codecs/) on
 * arbitrary RTP payloads: they read only the payload and answer 0 or 1. */
#include "../util/common.c"
#include "../rtp/codecs/vp8.c"
#include "../rtp/codecs/vp9.c"
#include "../rtp/codecs/h264.c"
#include "../rtp/codecs/av1.c"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    for (size_t n = size > 64 ? size - 64 : 0; n <= size; n++) {   /* the payload and its shorter cuts */
        int v8 = sfu_vp8_is_keyframe(data, n);
        int v9 = sfu_vp9_is_keyframe(data, n);
        int h = sfu_h264_is_keyframe(data, n);
        int a = sfu_av1_is_keyframe(data, n);
        FUZZ_CHECK((v8 == 0 || v8 == 1) && (v9 == 0 || v9 == 1) && (h == 0 || h == 1) && (a == 0 || a == 1));
        if (n == 0)
            FUZZ_CHECK(!v8 && !v9 && !h && !a);
        if (a)                                     /* N=1 (new coded video sequence), Z=0 */
            FUZZ_CHECK((data[0] & 0x08) && !(data[0] & 0x80));
        if (v9)                                    /* B=1 (start of a frame), P=0 (not inter predicted) */
            FUZZ_CHECK((data[0] & 0x08) && !(data[0] & 0x40));
        if (v8)                                    /* S=1, PID=0 */
            FUZZ_CHECK((data[0] & 0x10) && (data[0] & 0x07) == 0);
    }
    return 0;
}
