/* svc_layer_selector.c - the spatial and temporal layers of a scalable
 * video stream one consumer forwards (sfu_units.h).  Pure: a decision per
 * packet from where the packet sits and the target. */
#include "util/sfu_common.h"
#include "sfu_units.h"

void sfu_svc_selector_init(sfu_svc_selector_t *s)
{
    memset(s, 0, sizeof(*s));
    s->target_spatial = s->target_temporal = s->spatial = s->temporal = SFU_SVC_ALL;
}

static int8_t clamp_layer(int v)
{
    return (int8_t)((v < 0 || v >= SFU_SVC_ALL) ? SFU_SVC_ALL : v);
}

void sfu_svc_selector_set_target(sfu_svc_selector_t *s, int spatial, int temporal)
{
    s->target_spatial = clamp_layer(spatial);
    s->target_temporal = clamp_layer(temporal);
}

int sfu_svc_selector_select(sfu_svc_selector_t *s, const sfu_video_layers_t *li, int keyframe, int *marker)
{
    if (li->spatial < 0)
        return 1;                   /* nothing to select on (not scalable, or no structure yet) */
    int8_t spatial = s->spatial, temporal = s->temporal;
    if (li->start && li->spatial == 0) {
        /* a new picture: where the layers forwarded may change */
        if (s->target_spatial < spatial || (s->target_spatial > spatial && keyframe))
            spatial = s->target_spatial;
        if (s->target_temporal < temporal || (s->target_temporal > temporal && (li->sync || keyframe)))
            temporal = s->target_temporal;
        if (spatial != s->spatial || temporal != s->temporal) {
            s->spatial = spatial;
            s->temporal = temporal;
            s->switches++;
        }
        if (keyframe)
            s->want_keyframe = 0;
    }
    int t = li->temporal < 0 ? 0 : li->temporal;
    if (li->spatial > spatial || t > temporal) {
        /* a layer wanted that is there: the way up is a key frame (not for one that is not sent) */
        if (li->spatial > spatial && li->spatial <= s->target_spatial)
            s->want_keyframe = 1;
        s->dropped++;
        return 0;
    }
    if (li->end && li->spatial == spatial)
        *marker = 1;
    return 1;
}
