/* fuzz_svc_layers.c - where a scalable stream's packet sits, on arbitrary
 * bytes: sfu_dd_parse (the dependency descriptor, with the template
 * structure kept across the input's cuts, as a producer keeps it) and
 * sfu_vp9_layers read only their input and give layers in range; a failed
 * parse leaves the structure as it was.  Each result then goes through a
 * consumer's layer selector and seq manager: a packet is forwarded only
 * within the layers forwarded, and the output numbers of what is forwarded
 * in order never repeat. */
#include "../util/common.c"
#include "../rtp/dependency_descriptor.c"
#include "../rtp/codecs/vp9.c"
#include "../rtc/svc_layer_selector.c"
#include "../rtc/seq_manager.c"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    sfu_dd_structure_t st;
    memset(&st, 0, sizeof st);
    sfu_svc_selector_t sel;
    sfu_svc_selector_init(&sel);
    sfu_seq_manager_t seq;
    sfu_seq_manager_init(&seq, 1000, 0);
    uint16_t in = 0, last_out = 0;
    int have_out = 0;
    for (size_t at = 0; at < size; at += 3) {     /* overlapping cuts: each a descriptor */
        size_t n = size - at < 40 ? size - at : 40;
        sfu_dd_structure_t before = st;
        sfu_dd_t d;
        int rc = sfu_dd_parse(data + at, n, &st, &d);
        FUZZ_CHECK(rc == SFU_DD_OK || rc == SFU_DD_SHORT || rc == SFU_DD_BAD_STRUCTURE);
        FUZZ_CHECK(st.n_templates <= SFU_DD_MAX_TEMPLATES);
        if (rc != SFU_DD_OK) {
            FUZZ_CHECK(memcmp(&before, &st, sizeof st) == 0);
            continue;
        }
        FUZZ_CHECK(d.spatial >= -1 && d.spatial <= 7 && d.temporal >= -1 && d.temporal <= 7);
        FUZZ_CHECK((d.spatial < 0) == (d.temporal < 0));
        if (d.has_structure)
            FUZZ_CHECK(st.n_templates >= 1 && st.n_decode_targets >= 1 && st.n_decode_targets <= 32);
        sfu_video_layers_t li = {-1, -1, 0, 0, 0};
        int v = sfu_vp9_layers(data + at, n, &li);
        FUZZ_CHECK(v >= -1 && v <= 1);
        if (v == 1)
            FUZZ_CHECK(li.spatial >= 0 && li.spatial <= 7 && li.temporal >= 0 && li.temporal <= 7);
        if (v != 1) {
            li.spatial = d.spatial;
            li.temporal = d.temporal;
            li.start = d.start;
            li.end = d.end;
            li.sync = d.temporal == 0;
        }
        uint8_t knob = data[at];
        if ((knob & 0x0f) == 0x0f)
            sfu_svc_selector_set_target(&sel, (knob >> 4) & 3, (knob >> 6) - 1);
        int marker = 0;
        int go = sfu_svc_selector_select(&sel, &li, knob & 1, &marker);
        if (go && li.spatial >= 0)
            FUZZ_CHECK(li.spatial <= sel.spatial && (li.temporal < 0 ? 0 : li.temporal) <= sel.temporal);
        in++;
        if (!go) {
            sfu_seq_manager_drop(&seq, in);
            continue;
        }
        uint16_t out;
        uint32_t ts;
        sfu_seq_manager_map(&seq, in, 0, 90000, 1, &out, &ts);
        if (have_out)
            FUZZ_CHECK(out == (uint16_t)(last_out + 1));   /* in order: contiguous, nothing repeated */
        sfu_seq_manager_sent(&seq, out, ts, marker, 1);
        last_out = out;
        have_out = 1;
    }
    return 0;
}
