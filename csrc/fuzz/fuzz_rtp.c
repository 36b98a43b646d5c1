/* fuzz_rtp.c - sfu_rtp_parse, sfu_rtp_find_ext and sfu_rtp_audio_level on
 * arbitrary datagrams. */
#include "../util/common.c"
#include "../rtp/rtp.c"
#include "../rtp/audio_level.c"
#include "../rtp/codecs/keyframe.c"
#include "../rtp/codecs/vp8.c"
#include "../rtp/codecs/vp9.c"
#include "../rtp/codecs/h264.c"
#include "../rtp/codecs/av1.c"
#include "fuzz_common.h"

static int is_rtp_reason(int rc)
{
    return rc == SFU_DROP_NONE || rc == SFU_DROP_TOO_SHORT || rc == SFU_DROP_BAD_VERSION ||
           rc == SFU_DROP_BAD_CSRC || rc == SFU_DROP_BAD_EXTENSION || rc == SFU_DROP_BAD_PADDING;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    sfu_rtp_t rtp;
    memset(&rtp, 0xa5, sizeof rtp);
    int rc = sfu_rtp_parse(data, size, &rtp);
    FUZZ_CHECK(is_rtp_reason(rc));
    if (size < 12)
        FUZZ_CHECK(rc == SFU_DROP_TOO_SHORT);
    if (rc != SFU_DROP_NONE)
        return 0;

    /* the parse describes the packet exactly */
    FUZZ_CHECK((data[0] >> 6) == 2);
    FUZZ_CHECK(rtp.csrc_count == (data[0] & 0x0f));
    FUZZ_CHECK(rtp.marker == (data[1] >> 7));
    FUZZ_CHECK(rtp.payload_type == (data[1] & 0x7f));
    FUZZ_CHECK(rtp.seq == sfu_rd16(data + 2));
    FUZZ_CHECK(rtp.ts == sfu_rd32(data + 4));
    FUZZ_CHECK(rtp.ssrc == sfu_rd32(data + 8));
    FUZZ_CHECK(rtp.has_extension == ((data[0] >> 4) & 1));
    FUZZ_CHECK((size_t)rtp.header_len + rtp.payload_len + rtp.pad_len == size);
    FUZZ_CHECK(rtp.header_len >= 12 + 4 * (size_t)rtp.csrc_count);
    if (data[0] & 0x20) {
        FUZZ_CHECK(rtp.pad_len >= 1 && rtp.pad_len == data[size - 1]);
    } else {
        FUZZ_CHECK(rtp.pad_len == 0);
    }
    if (rtp.has_extension) {
        size_t ext_hdr = 12 + 4 * (size_t)rtp.csrc_count;
        FUZZ_CHECK(rtp.ext_offset == ext_hdr + 4);
        FUZZ_CHECK(rtp.ext_profile == sfu_rd16(data + ext_hdr));
        FUZZ_CHECK(rtp.ext_len % 4 == 0);
        FUZZ_CHECK((size_t)rtp.ext_offset + rtp.ext_len == rtp.header_len);
    } else {
        FUZZ_CHECK(rtp.ext_len == 0 && rtp.header_len == 12 + 4 * (size_t)rtp.csrc_count);
    }
    fuzz_touch(data + rtp.header_len, rtp.payload_len);

    int one_byte = rtp.has_extension && rtp.ext_profile == 0xBEDE;
    int two_byte = rtp.has_extension && (rtp.ext_profile & 0xfff0) == 0x1000;
    for (int id = 0; id <= 255; id++) {
        uint16_t off = 0xdead;
        int n = sfu_rtp_find_ext(data, &rtp, id, &off);
        FUZZ_CHECK(n >= -1);
        int level = sfu_rtp_audio_level(data, &rtp, id);      /* its first byte, if it has one */
        FUZZ_CHECK(n >= 1 ? level == data[off] : level == -1);
        if (n < 0) {
            FUZZ_CHECK(off == 0xdead);
            continue;
        }
        FUZZ_CHECK(one_byte || two_byte);
        FUZZ_CHECK(id >= 1);
        if (one_byte) {
            FUZZ_CHECK(id <= 14 && n >= 1 && n <= 16);
            FUZZ_CHECK(off >= rtp.ext_offset + 1 && (data[off - 1] >> 4) == id);
            FUZZ_CHECK((data[off - 1] & 0x0f) + 1 == n);
        } else {
            FUZZ_CHECK(n <= 255);
            FUZZ_CHECK(off >= rtp.ext_offset + 2 && data[off - 2] == id && data[off - 1] == n);
        }
        FUZZ_CHECK((size_t)off + (size_t)n <= (size_t)rtp.ext_offset + rtp.ext_len);
        fuzz_touch(data + off, (size_t)n);
    }
    /* key frame detection reads only the payload */
    for (int codec = 0; codec <= SFU_CODEC_AV1 + 1; codec++) {
        int k = sfu_rtp_is_keyframe(data, &rtp, codec);
        FUZZ_CHECK(k == -1 || k == 0 || k == 1);
        FUZZ_CHECK((k == -1) == !(codec == SFU_CODEC_VP8 || codec == SFU_CODEC_VP9 || codec == SFU_CODEC_H264 ||
                                  codec == SFU_CODEC_AV1));
    }
    return 0;
}
