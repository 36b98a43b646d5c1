/* producer_activity.c - whether a producer (a simulcast layer) is sending
 * (sfu_units.h).  The threshold is the room's layer poll (once a second,
 * "active" when the packet count grew), decided where the packets are. */
#include "util/sfu_common.h"
#include "sfu_units.h"

void sfu_producer_activity_init(sfu_producer_activity_t *a, uint64_t now_ns)
{
    memset(a, 0, sizeof(*a));
    a->last_ns = now_ns;
    a->active = 1;
}

int sfu_producer_activity_on_packet(sfu_producer_activity_t *a, uint64_t now_ns)
{
    a->last_ns = now_ns;
    if (SFU_LIKELY(a->active))
        return 0;
    a->active = 1;
    return 1;
}

int sfu_producer_activity_check(sfu_producer_activity_t *a, uint64_t now_ns)
{
    if (!a->active || now_ns < a->last_ns + SFU_PRODUCER_INACTIVE_NS)
        return 0;
    a->active = 0;
    return 1;
}
