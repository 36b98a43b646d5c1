/* keyframe_request.c - the key frame request throttle of one producer
 * (sfu_units.h): subscribers' PLI/FIR, layer switches and new consumers
 * all ask; the publisher hears at most one request per interval. */
#include "util/sfu_common.h"
#include "sfu_units.h"

int sfu_keyframe_request_allow(sfu_keyframe_request_t *k, uint64_t now_ns)
{
    if (k->last_ns && now_ns - k->last_ns < SFU_KEYFRAME_REQUEST_INTERVAL_NS)
        return 0;
    k->last_ns = now_ns;
    return 1;
}
