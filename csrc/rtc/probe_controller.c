/* probe_controller.c - probing for send-side bandwidth estimation
 * (sfu_bwe.h).  The delay-based estimate only climbs slowly (8 %/s, or a
 * packet per RTT near a known capacity), and never above 1.5 x what
 * arrives: after a drop, or when a subscriber could take a higher layer,
 * a short burst above the estimate shows whether the link has the room.
 * The rules follow goog_cc's ProbeController / ProbeBitrateEstimator.
 * Pure: the time is an argument. */
#include "util/sfu_common.h"
#include "sfu_bwe.h"

#define INITIAL_FIRST 3            /* x the start rate */
#define INITIAL_SECOND 6
#define CONTINUE_FRACTION 0.7      /* a result this close to its target: probe higher */
#define WANT_MARGIN 1.1            /* wanted above the estimate by this much before probing */
#define DROP_FRACTION 0.66         /* an estimate below this x the high one has dropped */
#define DROP_RECOVERY_US 1000000   /* probe this soon after a drop */
#define RESULT_TIMEOUT_US 1000000  /* after sending ended, evaluate with what was reported */
#define MAX_INTERVAL_RATIO 2.0     /* send / receive rate above this: not a measurement */
#define SATURATED 0.9
#define UTILISATION 0.95

void sfu_probe_controller_init(sfu_probe_controller_t *p, uint64_t start_bps, uint64_t max_bps, int64_t now_us)
{
    memset(p, 0, sizeof(*p));
    p->active = -1;
    p->start_bps = start_bps;
    p->max_bps = max_bps;
    p->initial_left = 2;
    p->interval_us = SFU_PROBE_INTERVAL_US;
    p->next_us = now_us + SFU_PROBE_INTERVAL_US;
    p->init_us = now_us;
    for (int i = 0; i < SFU_PROBE_CLUSTERS; i++)
        p->c[i].id = -1;
}

void sfu_probe_controller_set_wanted(sfu_probe_controller_t *p, uint64_t wanted_bps, int64_t now_us)
{
    if (wanted_bps > p->wanted_bps && p->interval_us > SFU_PROBE_INTERVAL_US) {
        /* the allocator wants more than before: look again soon */
        p->interval_us = SFU_PROBE_INTERVAL_US;
        if (p->next_us > now_us + SFU_PROBE_INTERVAL_US)
            p->next_us = now_us + SFU_PROBE_INTERVAL_US;
    }
    p->wanted_bps = wanted_bps;
}

static uint64_t cap_target(const sfu_probe_controller_t *p, uint64_t bps)
{
    return bps > p->max_bps ? p->max_bps : bps;
}

static int start_cluster(sfu_probe_controller_t *p, uint64_t target_bps, int64_t now_us)
{
    int slot = -1;
    for (int i = 0; i < SFU_PROBE_CLUSTERS; i++) {
        if (p->c[i].state == SFU_PROBE_FREE) {
            slot = i;
            break;
        }
    }
    if (slot < 0) {
        /* all waiting for feedback: the oldest gives way */
        slot = 0;
        for (int i = 1; i < SFU_PROBE_CLUSTERS; i++)
            if (p->c[i].start_us < p->c[slot].start_us)
                slot = i;
    }
    sfu_probe_cluster_t *c = &p->c[slot];
    memset(c, 0, sizeof(*c));
    c->id = p->next_id;
    p->next_id = (int16_t)((p->next_id + 1) & 0x7FFF);
    c->state = SFU_PROBE_SENDING;
    c->target_bps = target_bps;
    c->start_us = now_us;
    p->active = (int16_t)slot;
    p->clusters++;
    return slot;
}

int16_t sfu_probe_controller_cluster(sfu_probe_controller_t *p, uint64_t estimate_bps, uint8_t usage,
                                     int64_t now_us)
{
    if (estimate_bps > p->high_bps)
        p->high_bps = estimate_bps;
    if (estimate_bps < DROP_FRACTION * (double)p->high_bps) {
        /* dropped: the reason may be gone soon (cross traffic, a burst of loss) */
        if (p->next_us > now_us + DROP_RECOVERY_US)
            p->next_us = now_us + DROP_RECOVERY_US;
        p->interval_us = SFU_PROBE_INTERVAL_US;
        p->high_bps = estimate_bps;
    }
    if (p->active >= 0) {
        sfu_probe_cluster_t *c = &p->c[p->active];
        if (now_us - c->start_us >= SFU_PROBE_CLUSTER_US &&
            ((c->sent_packets >= SFU_PROBE_MIN_PACKETS && c->sent_bytes >= SFU_PROBE_MIN_BYTES) ||
             now_us - c->start_us >= 4 * SFU_PROBE_CLUSTER_US)) {
            c->state = SFU_PROBE_SENT;
            c->end_us = now_us;
            p->active = -1;
        } else {
            return c->id;
        }
    }
    if (usage == SFU_BWE_USAGE_OVERUSING)
        return -1;
    uint64_t target = 0;
    if (p->initial_left) {
        target = p->start_bps * (p->initial_left == 2 ? INITIAL_FIRST : INITIAL_SECOND);
        p->initial_left--;
    } else if (p->pending_bps) {
        target = p->pending_bps;
        p->pending_bps = 0;
    } else if (now_us >= p->next_us && p->wanted_bps > WANT_MARGIN * (double)estimate_bps) {
        target = 2 * estimate_bps < p->wanted_bps ? 2 * estimate_bps : p->wanted_bps;
        p->next_us = now_us + p->interval_us;
    }
    target = cap_target(p, target);
    if (!target || target <= estimate_bps)
        return -1;
    return p->c[start_cluster(p, target, now_us)].id;
}

void sfu_probe_controller_on_sent(sfu_probe_controller_t *p, int16_t cluster, uint32_t size)
{
    if (p->active < 0 || p->c[p->active].id != cluster)
        return;
    p->c[p->active].sent_packets++;
    p->c[p->active].sent_bytes += size;
}

uint32_t sfu_probe_controller_padding(const sfu_probe_controller_t *p, int64_t now_us)
{
    if (p->active < 0)
        return 0;
    const sfu_probe_cluster_t *c = &p->c[p->active];
    int64_t elapsed = now_us - c->start_us;
    if (elapsed < 0)
        return 0;
    /* the bytes due by the end of this millisecond at the target rate */
    uint64_t due = c->target_bps * (uint64_t)(elapsed + 1000) / 8000000;
    return due > c->sent_bytes ? (uint32_t)(due - c->sent_bytes) : 0;
}

/* the rate the cluster measured (0: none), and in *saturated the rate the link drained it at
 * when the cluster filled the link (0: it did not), also when too much of it was lost or the
 * receive spacing is too far from the send spacing to count as a measurement of room
 * (MAX_INTERVAL_RATIO) */
static uint64_t evaluate(const sfu_probe_cluster_t *c, uint64_t *saturated)
{
    *saturated = 0;
    if (c->received < SFU_PROBE_MIN_PACKETS)
        return 0;
    /* what was lost went at the queue's tail: what arrived still drained at the link's rate */
    int enough = (uint64_t)c->received * 5 >= (uint64_t)c->reported * 4;
    int64_t send_span = c->last_send_us - c->first_send_us;
    int64_t recv_span = c->last_arrival_us - c->first_arrival_us;
    if (send_span <= 0 || recv_span <= 0 || send_span > 1000000 || recv_span > 1000000)
        return 0;
    /* the last packet sent and the first arrival close their spans: not inside them */
    double send_rate = (double)(c->recv_bytes - c->last_send_size) * 8e6 / (double)send_span;
    double recv_rate = (double)(c->recv_bytes - c->first_arrival_size) * 8e6 / (double)recv_span;
    if (recv_rate <= 0)
        return 0;
    int spacing_ok = send_rate / recv_rate <= MAX_INTERVAL_RATIO;     /* over the whole cluster */
    int64_t tail_span = c->tail_last_arrival_us - c->mid_arrival_us;
    if (c->tail_received >= 2 && tail_span > 0) {
        double tail_rate = (double)c->tail_bytes * 8e6 / (double)tail_span;
        if (tail_rate < recv_rate)
            recv_rate = tail_rate;       /* the head came through a burst allowance */
    }
    if (recv_rate < SATURATED * send_rate)
        *saturated = (uint64_t)(UTILISATION * recv_rate);
    if (!spacing_ok || !enough)
        return 0;
    double r = send_rate < recv_rate ? send_rate : recv_rate;
    return *saturated ? *saturated : (uint64_t)r;
}

static uint64_t finish(sfu_probe_controller_t *p, sfu_probe_cluster_t *c, uint64_t estimate_bps, int64_t now_us)
{
    uint64_t saturated;
    uint64_t r = evaluate(c, &saturated);
    if (saturated && (!p->saturated_bps || saturated < p->saturated_bps))
        p->saturated_bps = saturated;
    c->state = SFU_PROBE_FREE;
    if (r) {
        p->results++;
        p->last_result_bps = r;
    }
    if (r && r >= CONTINUE_FRACTION * (double)c->target_bps && p->wanted_bps > r) {
        p->pending_bps = cap_target(p, 2 * r);    /* there was room: look further */
        p->interval_us = SFU_PROBE_INTERVAL_US;
    } else if (!r || r <= estimate_bps) {
        /* nothing found: wait longer before the next try */
        p->interval_us = p->interval_us * 2 > SFU_PROBE_INTERVAL_MAX_US ? SFU_PROBE_INTERVAL_MAX_US
                                                                         : p->interval_us * 2;
    }
    p->next_us = now_us + p->interval_us;
    return r;
}

/* what the cluster will have sent: while it is still sending, at least what its rules make it send */
static uint64_t expected_bytes(const sfu_probe_cluster_t *c)
{
    if (c->state != SFU_PROBE_SENDING)
        return c->sent_bytes;
    uint64_t planned = c->target_bps * SFU_PROBE_CLUSTER_US / 8000000;
    if (planned < SFU_PROBE_MIN_BYTES)
        planned = SFU_PROBE_MIN_BYTES;
    return planned > c->sent_bytes ? planned : c->sent_bytes;
}

uint64_t sfu_probe_controller_on_feedback(sfu_probe_controller_t *p, const sfu_tcc_packet_result_t *results,
                                          uint32_t n, uint64_t estimate_bps, int64_t now_us)
{
    p->saturated_bps = 0;
    for (uint32_t i = 0; i < n; i++) {
        const sfu_tcc_packet_result_t *r = &results[i];
        if (r->cluster < 0)
            continue;
        for (int k = 0; k < SFU_PROBE_CLUSTERS; k++) {
            sfu_probe_cluster_t *c = &p->c[k];
            if (c->state == SFU_PROBE_FREE || c->id != r->cluster)
                continue;
            c->reported++;
            if (r->arrival_us < 0)
                break;
            if (!c->received || r->send_us < c->first_send_us)
                c->first_send_us = r->send_us;
            if (!c->received || r->send_us >= c->last_send_us) {
                c->last_send_us = r->send_us;
                c->last_send_size = r->size;
            }
            if (!c->received || r->arrival_us < c->first_arrival_us) {
                c->first_arrival_us = r->arrival_us;
                c->first_arrival_size = r->size;
            }
            if (!c->received || r->arrival_us > c->last_arrival_us)
                c->last_arrival_us = r->arrival_us;
            if (c->has_mid) {
                c->tail_bytes += r->size;
                c->tail_received++;
                if (r->arrival_us > c->tail_last_arrival_us)
                    c->tail_last_arrival_us = r->arrival_us;
            } else if ((c->recv_bytes + r->size) * 2 > expected_bytes(c)) {
                c->has_mid = 1;                          /* the tail's span starts here */
                c->mid_arrival_us = r->arrival_us;
                c->tail_last_arrival_us = r->arrival_us;
            }
            c->recv_bytes += r->size;
            c->received++;
            break;
        }
    }
    uint64_t best = 0;
    for (int k = 0; k < SFU_PROBE_CLUSTERS; k++) {
        sfu_probe_cluster_t *c = &p->c[k];
        if (c->state != SFU_PROBE_SENT)
            continue;
        if (c->reported >= c->sent_packets || now_us - c->end_us >= RESULT_TIMEOUT_US) {
            uint64_t r = finish(p, c, estimate_bps, now_us);
            if (r > best)
                best = r;
        }
    }
    return best;
}

int16_t sfu_probe_controller_active(const sfu_probe_controller_t *p)
{
    return p->active >= 0 ? p->c[p->active].id : -1;
}

int sfu_probe_controller_probing(const sfu_probe_controller_t *p)
{
    if (p->pending_bps || p->initial_left)
        return 1;
    for (int i = 0; i < SFU_PROBE_CLUSTERS; i++)
        if (p->c[i].state != SFU_PROBE_FREE)
            return 1;
    return 0;
}

int sfu_probe_controller_starting(const sfu_probe_controller_t *p, int64_t now_us)
{
    if (now_us - p->init_us >= SFU_PROBE_STARTUP_US)
        return 0;
    if (p->initial_left)
        return 1;
    for (int i = 0; i < SFU_PROBE_CLUSTERS; i++)
        if (p->c[i].state != SFU_PROBE_FREE)
            return 1;                         /* the second start-up cluster, sent or waiting for feedback */
    return 0;
}

uint32_t sfu_probe_controller_padding_packets(sfu_probe_controller_t *p, uint64_t estimate_bps, uint8_t usage,
                                              int can_pad, int busy, uint32_t packet_bytes, int64_t now_us,
                                              int16_t *cluster)
{
    if (p->active < 0 && !can_pad) {
        /* a cluster started now would be media only: too little to measure */
        *cluster = -1;
        return 0;
    }
    int16_t id = sfu_probe_controller_cluster(p, estimate_bps, usage, now_us);
    *cluster = id;
    if (id < 0 || !can_pad || busy || !packet_bytes)
        return 0;
    uint32_t due = sfu_probe_controller_padding(p, now_us);
    uint32_t n = (due + packet_bytes - 1) / packet_bytes;
    return n > SFU_PROBE_BURST_PACKETS ? SFU_PROBE_BURST_PACKETS : n;
}
