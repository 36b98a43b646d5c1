/* bwe_loss.c - the loss-based limit of send-side bandwidth estimation
 * (sfu_bwe.h), after libwebrtc's classic SendSideBandwidthEstimation: loss
 * the delay trend did not prevent (a shallow queue, a lossy radio link)
 * still caps the rate.  Between 2 % and 10 % the limit holds: that much
 * loss is left to retransmission and FEC rather than taken as congestion.
 * Pure: the time is an argument. */
#include <math.h>
#include "util/sfu_common.h"
#include "sfu_bwe.h"

#define LOSS_HIGH 0.10
#define LOSS_LOW 0.02
#define DECREASE_GAP_US 300000
#define INCREASE_PER_SECOND 1.08

void sfu_bwe_loss_init(sfu_bwe_loss_t *l, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps)
{
    memset(l, 0, sizeof(*l));
    l->min_bps = min_bps;
    l->max_bps = max_bps > min_bps ? max_bps : min_bps;
    l->bps = start_bps < l->min_bps ? l->min_bps : start_bps > l->max_bps ? l->max_bps : start_bps;
    l->limiting = 0;
    l->last_update_us = -1;
    l->last_decrease_us = -1;
}

uint64_t sfu_bwe_loss_update(sfu_bwe_loss_t *l, double loss, uint64_t sending_bps, uint64_t other_bps,
                             int64_t rtt_us, int64_t now_us)
{
    double dt_s = l->last_update_us < 0 ? 0 : (double)(now_us - l->last_update_us) / 1e6;
    if (dt_s < 0)
        dt_s = 0;
    if (dt_s > 1)
        dt_s = 1;
    l->last_update_us = now_us;
    l->loss = loss;
    double other = (double)other_bps;
    double bps = l->limiting ? (double)l->bps : other;
    if (loss > LOSS_HIGH) {
        int64_t gap = DECREASE_GAP_US + (rtt_us > 0 ? rtt_us : 0);
        if (l->last_decrease_us < 0 || now_us - l->last_decrease_us >= gap) {
            /* from what is being sent, not from an estimate or a limit above it */
            double from = bps < other ? bps : other;
            if (sending_bps && (double)sending_bps < from)
                from = (double)sending_bps;
            bps = from * (1 - 0.5 * loss);
            l->last_decrease_us = now_us;
            l->limiting = 1;
        }
    } else if (loss < LOSS_LOW && l->limiting) {
        bps = bps * pow(INCREASE_PER_SECOND, dt_s) + 1000 * dt_s;
        if (bps >= other)
            l->limiting = 0;                      /* grown back to the delay-based estimate */
    }
    if (bps < (double)l->min_bps)
        bps = (double)l->min_bps;
    if (bps > (double)l->max_bps)
        bps = (double)l->max_bps;
    l->bps = (uint64_t)bps;
    return l->limiting ? l->bps : l->max_bps;
}

void sfu_bwe_loss_on_probe(sfu_bwe_loss_t *l, uint64_t probe_bps, uint64_t other_bps)
{
    if (!l->limiting || probe_bps <= l->bps || l->loss > LOSS_HIGH)
        return;                                   /* the loss is still there: the probe was lucky */
    l->bps = probe_bps > l->max_bps ? l->max_bps : probe_bps;
    if (l->bps >= other_bps)
        l->limiting = 0;
}

void sfu_bwe_loss_on_ceiling(sfu_bwe_loss_t *l, uint64_t bps)
{
    if (l->limiting && bps < l->bps)
        l->bps = bps < l->min_bps ? l->min_bps : bps;
}
