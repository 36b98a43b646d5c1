/* producer_layers.c - where each packet of a scalable video stream (VP9 or
 * AV1 SVC) sits: its spatial and temporal layer, read once per packet by the
 * producer for all of its consumers' layer selectors (svc_layer_selector.c).
 * The dependency descriptor wins where the publisher sends one (libwebrtc
 * does for AV1, and for VP9 where it was negotiated); else VP9's payload
 * descriptor.  Other codecs are not scalable here (simulcast instead).  Bytes are counted per
 * (spatial, temporal) layer: what the stream allocator measures each choice by. */
#include "util/sfu_common.h"
#include "loop/loop_internal.h"

void producer_read_layers(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, sfu_rtp_t *rtp)
{
    if (p->codec != SFU_CODEC_VP9 && p->codec != SFU_CODEC_AV1)
        return;
    sfu_video_layers_t *li = &rtp->layers;
    uint16_t off;
    int n = p->dd_ext_id ? sfu_rtp_find_ext(pkt, rtp, p->dd_ext_id, &off) : -1;
    if (n >= 0) {
        sfu_dd_t d;
        if (sfu_dd_parse(pkt + off, (size_t)n, &p->dd, &d) != SFU_DD_OK) {
            l->stats.svc_bad_descriptors++;
        } else if (d.spatial >= 0) {
            li->spatial = d.spatial;
            li->temporal = d.temporal;
            li->start = d.start;
            li->end = d.end;
            li->sync = d.temporal == 0;
        }
    }
    if (li->spatial < 0 && p->codec == SFU_CODEC_VP9 &&
        sfu_vp9_layers(pkt + rtp->header_len, rtp->payload_len, li) < 0)
        li->spatial = li->temporal = -1;
    int t = li->temporal < 0 ? 0 : li->temporal;
    if (li->spatial >= 0 && li->spatial < SFU_SVC_SPATIAL_MAX && t < SFU_SVC_TEMPORAL_MAX)
        p->stats.layer_bytes[li->spatial * SFU_SVC_TEMPORAL_MAX + t] +=
            rtp->header_len + rtp->payload_len + rtp->pad_len;
}
