/* keyframe_request.c - key frame request throttles (sfu_units.h): per
 * producer, subscribers' PLI/FIR, layer switches and new consumers all ask
 * and the publisher hears at most one request per interval (one asked inside
 * it is held until the interval ends); per subscriber, its own PLI/FIR with a
 * growing interval. */
#include "util/sfu_common.h"
#include "sfu_units.h"

int sfu_keyframe_request_allow(sfu_keyframe_request_t *k, uint64_t now_ns)
{
    if (k->last_ns && now_ns - k->last_ns < SFU_KEYFRAME_REQUEST_INTERVAL_NS) {
        k->held = 1;
        return 0;
    }
    k->last_ns = now_ns;
    k->held = 0;
    return 1;
}

int sfu_keyframe_request_due(sfu_keyframe_request_t *k, uint64_t now_ns)
{
    if (!k->held || now_ns - k->last_ns < SFU_KEYFRAME_REQUEST_INTERVAL_NS)
        return 0;
    k->last_ns = now_ns;
    k->held = 0;
    return 1;
}

void sfu_keyframe_request_answered(sfu_keyframe_request_t *k)
{
    k->held = 0;
}

int sfu_subscriber_pli_allow(sfu_subscriber_pli_t *s, uint64_t now_ns)
{
    if (!s->interval_ns)
        s->interval_ns = SFU_SUBSCRIBER_PLI_INTERVAL_NS;
    if (s->last_ns) {
        uint64_t since = now_ns - s->last_ns;
        if (since < s->interval_ns) {
            /* asking again inside the interval: the next one waits longer */
            if (s->interval_ns < SFU_SUBSCRIBER_PLI_MAX_INTERVAL_NS && !s->backed_off) {
                s->interval_ns *= 2;
                if (s->interval_ns > SFU_SUBSCRIBER_PLI_MAX_INTERVAL_NS)
                    s->interval_ns = SFU_SUBSCRIBER_PLI_MAX_INTERVAL_NS;
                s->backed_off = 1;
            }
            return 0;
        }
        if (since >= 3 * s->interval_ns)   /* quiet for two intervals after this one */
            s->interval_ns = SFU_SUBSCRIBER_PLI_INTERVAL_NS;
    }
    s->last_ns = now_ns;
    s->backed_off = 0;
    return 1;
}
