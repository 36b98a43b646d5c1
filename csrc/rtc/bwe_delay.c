/* bwe_delay.c - the delay-based estimate of send-side bandwidth estimation
 * (sfu_bwe.h), after libwebrtc's goog_cc (inter-arrival, trendline
 * estimator, overuse detector, AIMD rate control;
 * draft-ietf-rmcat-gcc-02).  A bottleneck's queue grows when more is sent
 * than it drains: the arrival spacing of packet groups then exceeds their
 * send spacing, and the trend of that excess says so before loss does.
 * Pure: times are arguments (send times on our clock, arrivals on the
 * receiver's; only differences within one clock are used). */
#include <math.h>
#include "util/sfu_common.h"
#include "sfu_bwe.h"

#define BURST_ARRIVAL_US 5000         /* arrivals this close, with negative propagation delta: one burst */
#define MAX_BURST_US 100000
#define ARRIVAL_JUMP_US 3000000       /* a jump this large: the receiver's clock moved, start again */
#define REORDER_RESET 3
#define SMOOTHING 0.9
#define THRESHOLD_GAIN 4.0
#define MIN_NUM_DELTAS 60
#define THRESHOLD_INIT 12.5
#define K_UP 0.0087
#define K_DOWN 0.039
#define MAX_ADAPT_OFFSET 15.0
#define OVERUSE_TIME_MS 10.0
#define BETA 0.85
#define INCREASE_PER_SECOND 1.08
#define AVG_PACKET_BITS (1200.0 * 8)
#define CAPACITY_ALPHA 0.05

static void group_start(sfu_bwe_group_t *g, int64_t send_us, int64_t arrival_us, uint32_t size)
{
    g->first_send_us = g->last_send_us = send_us;
    g->first_arrival_us = g->last_arrival_us = arrival_us;
    g->bytes = size;
}

static void inter_arrival_reset(sfu_bwe_delay_t *d)
{
    d->cur.first_send_us = -1;
    d->prev.first_send_us = -1;
    d->reordered = 0;
}

void sfu_bwe_delay_init(sfu_bwe_delay_t *d, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps)
{
    memset(d, 0, sizeof(*d));
    inter_arrival_reset(d);
    d->first_arrival_us = -1;
    d->threshold = THRESHOLD_INIT;
    d->time_over_ms = -1;
    d->threshold_update_us = -1;
    d->usage = SFU_BWE_USAGE_NORMAL;
    d->min_bps = min_bps;
    d->max_bps = max_bps > min_bps ? max_bps : min_bps;
    d->bps = start_bps < d->min_bps ? d->min_bps : start_bps > d->max_bps ? d->max_bps : start_bps;
    d->rate_state = SFU_BWE_RATE_HOLD;
    d->rate_update_us = -1;
    d->last_decrease_us = -1;
    d->capacity_kbps = -1;
    d->capacity_dev = 0.4;
}

/* ---- overuse detector: the modified trend against an adaptive threshold ---- */

static void update_threshold(sfu_bwe_delay_t *d, double modified, int64_t now_us)
{
    if (d->threshold_update_us < 0)
        d->threshold_update_us = now_us;
    double a = fabs(modified);
    if (a > d->threshold + MAX_ADAPT_OFFSET) {
        /* a spike (a route change, a burst): do not let it drag the threshold up */
        d->threshold_update_us = now_us;
        return;
    }
    double k = a < d->threshold ? K_DOWN : K_UP;
    double dt_ms = (double)(now_us - d->threshold_update_us) / 1000.0;
    if (dt_ms > 100)
        dt_ms = 100;
    if (dt_ms < 0)
        dt_ms = 0;
    d->threshold += k * (a - d->threshold) * dt_ms;
    if (d->threshold < 6)
        d->threshold = 6;
    if (d->threshold > 600)
        d->threshold = 600;
    d->threshold_update_us = now_us;
}

static void detect(sfu_bwe_delay_t *d, double send_delta_ms, int64_t now_us)
{
    if (d->num_deltas < 2) {
        d->usage = SFU_BWE_USAGE_NORMAL;
        return;
    }
    uint32_t n = d->num_deltas < MIN_NUM_DELTAS ? d->num_deltas : MIN_NUM_DELTAS;
    double modified = n * d->trend * THRESHOLD_GAIN;
    d->modified_trend = modified;
    if (modified > d->threshold) {
        d->time_over_ms = d->time_over_ms < 0 ? send_delta_ms / 2 : d->time_over_ms + send_delta_ms;
        d->overuse_count++;
        /* over the threshold long enough, more than once, and not getting better */
        if (d->time_over_ms > OVERUSE_TIME_MS && d->overuse_count > 1 && d->trend >= d->prev_trend) {
            d->time_over_ms = 0;
            d->overuse_count = 0;
            d->usage = SFU_BWE_USAGE_OVERUSING;
        }
    } else if (modified < -d->threshold) {
        d->time_over_ms = -1;
        d->overuse_count = 0;
        d->usage = SFU_BWE_USAGE_UNDERUSING;
    } else {
        d->time_over_ms = -1;
        d->overuse_count = 0;
        d->usage = SFU_BWE_USAGE_NORMAL;
    }
    d->prev_trend = d->trend;
    update_threshold(d, modified, now_us);
}

/* ---- trendline: least-squares slope of the smoothed accumulated delay ---- */

static double slope(const sfu_bwe_delay_t *d)
{
    double sx = 0, sy = 0;
    for (uint32_t i = 0; i < d->points; i++) {
        sx += d->x[i];
        sy += d->y[i];
    }
    double mx = sx / d->points, my = sy / d->points, num = 0, den = 0;
    for (uint32_t i = 0; i < d->points; i++) {
        num += (d->x[i] - mx) * (d->y[i] - my);
        den += (d->x[i] - mx) * (d->x[i] - mx);
    }
    return den == 0 ? d->trend : num / den;
}

static void trendline_update(sfu_bwe_delay_t *d, double recv_delta_ms, double send_delta_ms, int64_t arrival_us)
{
    double delta_ms = recv_delta_ms - send_delta_ms;
    if (d->num_deltas < 1000)
        d->num_deltas++;
    if (d->first_arrival_us < 0)
        d->first_arrival_us = arrival_us;
    d->accumulated_ms += delta_ms;
    d->smoothed_ms = SMOOTHING * d->smoothed_ms + (1 - SMOOTHING) * d->accumulated_ms;
    d->x[d->point_head] = (double)(arrival_us - d->first_arrival_us) / 1000.0;
    d->y[d->point_head] = d->smoothed_ms;
    d->point_head = (d->point_head + 1) % SFU_BWE_TRENDLINE_WINDOW;
    if (d->points < SFU_BWE_TRENDLINE_WINDOW)
        d->points++;
    if (d->points == SFU_BWE_TRENDLINE_WINDOW)
        d->trend = slope(d);
    detect(d, send_delta_ms, arrival_us);
}

/* ---- inter-arrival: packet groups of one send burst ---- */

static int in_burst(const sfu_bwe_group_t *g, int64_t send_us, int64_t arrival_us)
{
    int64_t arrival_delta = arrival_us - g->last_arrival_us;
    int64_t send_delta = send_us - g->last_send_us;
    if (send_delta == 0)
        return 1;
    /* arrived together although sent apart: they queued behind each other */
    return arrival_delta - send_delta < 0 && arrival_delta <= BURST_ARRIVAL_US &&
           arrival_us - g->first_arrival_us < MAX_BURST_US;
}

void sfu_bwe_delay_on_packet(sfu_bwe_delay_t *d, int64_t send_us, int64_t arrival_us, uint32_t size,
                             int64_t now_us)
{
    sfu_bwe_group_t *g = &d->cur;
    if (g->first_send_us < 0) {
        group_start(g, send_us, arrival_us, size);
        return;
    }
    if (send_us < g->first_send_us)
        return;                                   /* older than the group being built */
    if (in_burst(g, send_us, arrival_us) || send_us - g->first_send_us <= SFU_BWE_GROUP_US) {
        if (send_us > g->last_send_us)
            g->last_send_us = send_us;
        if (arrival_us > g->last_arrival_us)
            g->last_arrival_us = arrival_us;
        g->bytes += size;
        return;
    }
    /* the packet starts a new group: the one just completed against the one before */
    if (d->prev.first_send_us >= 0) {
        int64_t send_delta = g->last_send_us - d->prev.last_send_us;
        int64_t arrival_delta = g->last_arrival_us - d->prev.last_arrival_us;
        if (arrival_delta - send_delta >= ARRIVAL_JUMP_US || arrival_delta - send_delta <= -ARRIVAL_JUMP_US) {
            inter_arrival_reset(d);
            group_start(&d->cur, send_us, arrival_us, size);
            return;
        }
        if (arrival_delta < 0) {
            if (++d->reordered >= REORDER_RESET) {
                inter_arrival_reset(d);
                group_start(&d->cur, send_us, arrival_us, size);
                return;
            }
        } else {
            d->reordered = 0;
            trendline_update(d, (double)arrival_delta / 1000.0, (double)send_delta / 1000.0, g->last_arrival_us);
        }
    }
    d->prev = *g;
    group_start(g, send_us, arrival_us, size);
}

/* ---- AIMD rate control ---- */

static void capacity_on_overuse(sfu_bwe_delay_t *d, double sample_kbps)
{
    if (d->capacity_kbps < 0) {
        d->capacity_kbps = sample_kbps;
    } else {
        d->capacity_kbps = (1 - CAPACITY_ALPHA) * d->capacity_kbps + CAPACITY_ALPHA * sample_kbps;
    }
    double norm = d->capacity_kbps > 1 ? d->capacity_kbps : 1;
    double err = d->capacity_kbps - sample_kbps;
    d->capacity_dev = (1 - CAPACITY_ALPHA) * d->capacity_dev + CAPACITY_ALPHA * err * err / norm;
    if (d->capacity_dev < 0.4)
        d->capacity_dev = 0.4;
    if (d->capacity_dev > 2.5)
        d->capacity_dev = 2.5;
}

static double capacity_spread_kbps(const sfu_bwe_delay_t *d)
{
    return 3 * sqrt(d->capacity_dev * d->capacity_kbps);
}

/* bit/s per second of additive increase: about one packet per response time */
static double near_max_increase(const sfu_bwe_delay_t *d, int64_t rtt_us)
{
    double frame_bits = (double)d->bps / 30.0;
    double packets = ceil(frame_bits / AVG_PACKET_BITS);
    if (packets < 1)
        packets = 1;
    double response_s = (double)(rtt_us > 0 ? rtt_us : 200000) / 1e6 + 0.1;
    double r = frame_bits / packets / response_s;
    return r > 4000 ? r : 4000;
}

static uint64_t clamp_bps(const sfu_bwe_delay_t *d, double bps)
{
    if (bps < (double)d->min_bps)
        return d->min_bps;
    if (bps > (double)d->max_bps)
        return d->max_bps;
    return (uint64_t)bps;
}

uint64_t sfu_bwe_delay_update(sfu_bwe_delay_t *d, uint64_t acked_bps, int64_t rtt_us, int64_t now_us)
{
    double throughput = acked_bps ? (double)acked_bps : (double)d->bps;
    if (d->usage == SFU_BWE_USAGE_OVERUSING) {
        /* reduce again only once the last change had an RTT to act, or when far above what arrives */
        int64_t interval = rtt_us < 10000 ? 10000 : rtt_us > 200000 ? 200000 : rtt_us;
        int due = d->rate_update_us < 0 || now_us - d->rate_update_us >= interval ||
                  (acked_bps && (double)acked_bps < 0.5 * (double)d->bps);
        if (!due)
            return d->bps;
        d->rate_state = SFU_BWE_RATE_DECREASE;
    } else if (d->usage == SFU_BWE_USAGE_UNDERUSING) {
        d->rate_state = SFU_BWE_RATE_HOLD;     /* the queue drains: wait */
    } else if (d->rate_state == SFU_BWE_RATE_HOLD) {
        d->rate_state = SFU_BWE_RATE_INCREASE;
        d->rate_update_us = now_us;
    }
    double next = (double)d->bps;
    if (d->rate_state == SFU_BWE_RATE_INCREASE) {
        if (d->capacity_kbps >= 0 && throughput / 1000 > d->capacity_kbps + capacity_spread_kbps(d))
            d->capacity_kbps = -1;                /* above what was the capacity: it changed */
        double limit = 1.5 * throughput + 10000;
        if (next < limit) {
            double dt_s = d->rate_update_us < 0 ? 0 : (double)(now_us - d->rate_update_us) / 1e6;
            if (dt_s < 0)
                dt_s = 0;
            double inc;
            if (d->capacity_kbps >= 0) {
                inc = near_max_increase(d, rtt_us) * dt_s;
            } else {
                inc = next * (pow(INCREASE_PER_SECOND, dt_s > 1 ? 1 : dt_s) - 1);
                if (inc < 1000)
                    inc = 1000;
            }
            next = next + inc < limit ? next + inc : limit;
        }
        d->rate_update_us = now_us;
    } else if (d->rate_state == SFU_BWE_RATE_DECREASE) {
        double dec = BETA * throughput;
        if (dec > next && d->capacity_kbps >= 0)
            dec = BETA * d->capacity_kbps * 1000;
        if (dec < next) {
            next = dec;
            d->last_decrease_us = now_us;
        }
        if (d->capacity_kbps >= 0 && throughput / 1000 < d->capacity_kbps - capacity_spread_kbps(d))
            d->capacity_kbps = -1;                /* far below: the capacity dropped */
        capacity_on_overuse(d, throughput / 1000);
        d->rate_state = SFU_BWE_RATE_HOLD;
        d->rate_update_us = now_us;
    }
    d->bps = clamp_bps(d, next);
    return d->bps;
}

void sfu_bwe_delay_on_probe(sfu_bwe_delay_t *d, uint64_t probe_bps, int64_t now_us)
{
    if (probe_bps > d->bps) {
        d->bps = clamp_bps(d, (double)probe_bps);
        d->rate_update_us = now_us;
    }
}

void sfu_bwe_delay_on_ceiling(sfu_bwe_delay_t *d, uint64_t bps, int64_t now_us)
{
    if (bps < d->bps) {
        d->bps = clamp_bps(d, (double)bps);
        d->rate_update_us = now_us;
    }
}
