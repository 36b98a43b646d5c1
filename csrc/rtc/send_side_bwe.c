/* send_side_bwe.c - send-side bandwidth estimation of one subscriber
 * transport (sfu_bwe.h): transport-cc feedback -> send history -> the
 * delay-based estimate (per acknowledged packet, then once per feedback),
 * the loss limit (once per measured loss interval), and REMB as an upper
 * bound or, without transport-cc, the estimate itself.  Pure: `now_us` is
 * an argument; the parse scratch is per thread (one loop per thread). */
#include "util/sfu_common.h"
#include "sfu_bwe.h"

static __thread sfu_tcc_feedback_packet_t fb_pkts[SFU_TCC_HISTORY_SLOTS];
static __thread sfu_tcc_packet_result_t fb_results[SFU_TCC_HISTORY_SLOTS];

void sfu_send_side_bwe_init(sfu_send_side_bwe_t *b, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps)
{
    memset(b, 0, sizeof(*b));
    if (max_bps < min_bps)
        max_bps = min_bps;
    sfu_tcc_send_history_init(&b->history, 1);
    sfu_bwe_delay_init(&b->delay, start_bps, min_bps, max_bps);
    sfu_bwe_loss_init(&b->loss, start_bps, min_bps, max_bps);
    b->min_bps = min_bps;
    b->max_bps = max_bps;
    b->estimate_bps = b->delay.bps;
    b->remb_us = -1;
    b->feedback_us = -1;
    b->loss_mark_us = INT64_MIN;
    b->limited_by = SFU_BWE_LIMIT_START;
    b->reported_us = -1;
    b->timeout_us = -1;
}

uint16_t sfu_send_side_bwe_on_sent(sfu_send_side_bwe_t *b, uint32_t size, uint8_t flags, int16_t cluster,
                                   int64_t now_us)
{
    return sfu_tcc_send_history_add(&b->history, size, flags, cluster, now_us);
}

static int remb_fresh(const sfu_send_side_bwe_t *b, int64_t now_us)
{
    return b->remb_us >= 0 && now_us - b->remb_us < SFU_BWE_REMB_TIMEOUT_US;
}

/* feedback stopped although packets still go out: the link or the subscriber may be gone.
 * As goog_cc's feedback timeout: 20 % less for each SFU_BWE_TIMEOUT_STEP_US of silence. */
static void feedback_timeout(sfu_send_side_bwe_t *b, int64_t now_us)
{
    const sfu_tcc_send_history_t *h = &b->history;
    const sfu_tcc_sent_t *newest = &h->e[(h->next_seq - 1) & (SFU_TCC_HISTORY_SLOTS - 1)];
    if (newest->seq != h->next_seq - 1 || newest->send_us <= b->feedback_us)
        return;                                   /* nothing sent since: nothing to be told about */
    if (b->timeout_us >= 0 && now_us - b->timeout_us < SFU_BWE_TIMEOUT_STEP_US)
        return;
    b->timeout_us = now_us;
    uint64_t bps = b->delay.bps * 4 / 5;
    b->delay.bps = bps < b->min_bps ? b->min_bps : bps;
}

static void compose(sfu_send_side_bwe_t *b, int64_t now_us)
{
    int have_tcc = b->feedback_us >= 0 && now_us - b->feedback_us < SFU_BWE_FEEDBACK_TIMEOUT_US;
    uint64_t est;
    uint8_t by;
    if (b->feedback_us >= 0) {
        by = SFU_BWE_LIMIT_DELAY;
        if (!have_tcc) {
            feedback_timeout(b, now_us);
            by = SFU_BWE_LIMIT_NO_FEEDBACK;
        }
        est = b->delay.bps;
        uint64_t loss_limit = b->loss.limiting ? b->loss.bps : UINT64_MAX;
        if (loss_limit < est) {
            est = loss_limit;
            by = SFU_BWE_LIMIT_LOSS;
        }
    } else {
        est = b->delay.bps;
        by = SFU_BWE_LIMIT_START;
    }
    if (remb_fresh(b, now_us) && (b->remb_bps < est || !have_tcc)) {
        est = b->remb_bps;
        by = SFU_BWE_LIMIT_REMB;
    }
    if (est <= b->min_bps) {
        est = b->min_bps;
        by = SFU_BWE_LIMIT_MIN;
    } else if (est >= b->max_bps) {
        est = b->max_bps;
        by = SFU_BWE_LIMIT_MAX;
    }
    b->estimate_bps = est;
    b->limited_by = by;
}

static void update_loss(sfu_send_side_bwe_t *b, int64_t now_us)
{
    const sfu_tcc_send_history_t *h = &b->history;
    if (h->newest_reported < 0)
        return;
    const sfu_tcc_sent_t *newest = &h->e[h->newest_reported & (SFU_TCC_HISTORY_SLOTS - 1)];
    uint32_t reported;
    double loss = sfu_tcc_send_history_loss(h, b->loss_mark_us, &reported);
    int64_t span = b->loss_mark_us == INT64_MIN ? 0 : newest->send_us - b->loss_mark_us;
    if (b->loss_mark_us == INT64_MIN) {
        /* the first interval starts at the first packet reported */
        for (int64_t s = h->newest_reported; s > h->newest_reported - SFU_TCC_HISTORY_SLOTS; s--) {
            const sfu_tcc_sent_t *e = &h->e[s & (SFU_TCC_HISTORY_SLOTS - 1)];
            if (e->seq != s)
                break;
            span = newest->send_us - e->send_us;
        }
    }
    if (reported < SFU_BWE_LOSS_MIN_PACKETS || span < SFU_BWE_LOSS_INTERVAL_US)
        return;
    b->loss_fraction = loss;
    uint64_t other = b->delay.bps;
    if (remb_fresh(b, now_us) && b->remb_bps < other)
        other = b->remb_bps;
    sfu_bwe_loss_update(&b->loss, loss, b->acked_bps, other, b->rtt_us, now_us);
    b->loss_mark_us = newest->send_us;
}

int sfu_send_side_bwe_on_feedback(sfu_send_side_bwe_t *b, const uint8_t *buf, size_t len, int64_t now_us,
                                  sfu_tcc_packet_result_t *results, uint32_t cap, uint32_t *n_results)
{
    sfu_tcc_feedback_t fb;
    if (n_results)
        *n_results = 0;
    int r = sfu_tcc_feedback_parse(buf, len, &fb, fb_pkts, SFU_TCC_HISTORY_SLOTS);
    if (r != SFU_TCC_FB_OK) {
        b->feedback_rejected++;
        b->feedback_rejects[r]++;
        return r;
    }
    uint32_t n = sfu_tcc_send_history_on_feedback(&b->history, &fb, fb_pkts, fb_results, SFU_TCC_HISTORY_SLOTS);
    int64_t newest_send = -1;
    for (uint32_t i = 0; i < n; i++) {
        const sfu_tcc_packet_result_t *p = &fb_results[i];
        if (p->arrival_us < 0)
            continue;
        sfu_bwe_delay_on_packet(&b->delay, p->send_us, p->arrival_us, p->size, now_us);
        if (p->send_us > newest_send)
            newest_send = p->send_us;
    }
    if (newest_send >= 0 && now_us >= newest_send) {
        /* an upper bound of the RTT: it includes the receiver's feedback interval */
        int64_t sample = now_us - newest_send;
        b->rtt_us = b->rtt_us ? (7 * b->rtt_us + sample) / 8 : sample;
    }
    b->feedback_us = now_us;
    uint64_t acked = sfu_tcc_send_history_acked_bps(&b->history, SFU_BWE_ACKED_WINDOW_US);
    if (acked)
        b->acked_bps = acked;
    sfu_bwe_delay_update(&b->delay, acked, b->rtt_us, now_us);
    update_loss(b, now_us);
    compose(b, now_us);
    if (results && n_results) {
        uint32_t k = n < cap ? n : cap;
        memcpy(results, fb_results, k * sizeof(*results));
        *n_results = k;
    }
    return SFU_TCC_FB_OK;
}

void sfu_send_side_bwe_on_remb(sfu_send_side_bwe_t *b, uint64_t bps, int64_t now_us)
{
    b->remb_bps = bps;
    b->remb_us = now_us;
    b->remb_packets++;
    compose(b, now_us);
}

void sfu_send_side_bwe_on_rtt(sfu_send_side_bwe_t *b, int64_t rtt_us)
{
    if (rtt_us > 0)
        b->rtt_us = b->rtt_us ? (7 * b->rtt_us + rtt_us) / 8 : rtt_us;
}

void sfu_send_side_bwe_on_probe(sfu_send_side_bwe_t *b, uint64_t probe_bps, int64_t now_us)
{
    sfu_bwe_delay_on_probe(&b->delay, probe_bps, now_us);
    sfu_bwe_loss_on_probe(&b->loss, probe_bps, b->delay.bps);
    compose(b, now_us);
}

void sfu_send_side_bwe_on_probe_ceiling(sfu_send_side_bwe_t *b, uint64_t bps, int64_t now_us)
{
    sfu_bwe_delay_on_ceiling(&b->delay, bps, now_us);
    sfu_bwe_loss_on_ceiling(&b->loss, bps);
    compose(b, now_us);
}

uint64_t sfu_send_side_bwe_estimate(sfu_send_side_bwe_t *b, int64_t now_us)
{
    compose(b, now_us);
    return b->estimate_bps;
}

void sfu_send_side_bwe_stats(sfu_send_side_bwe_t *b, int64_t now_us, sfu_bwe_stats_t *out)
{
    compose(b, now_us);
    memset(out, 0, sizeof(*out));
    out->estimate_bps = b->estimate_bps;
    out->delay_bps = b->delay.bps;
    out->loss_bps = b->loss.limiting ? b->loss.bps : b->max_bps;
    out->remb_bps = b->remb_bps;
    out->acked_bps = b->acked_bps;
    out->rtt_us = b->rtt_us;
    out->loss = b->loss_fraction;
    out->usage = b->delay.usage;
    out->rate_state = b->delay.rate_state;
    out->limited_by = b->limited_by;
    out->packets = b->history.added;
    out->feedback_packets = b->history.feedback_packets;
    out->feedback_rejected = b->feedback_rejected;
    out->unknown = b->history.unknown;
    out->remb_packets = b->remb_packets;
    out->remb_rejected = b->remb_rejected;
    memcpy(out->feedback_rejects, b->feedback_rejects, sizeof(out->feedback_rejects));
}

int sfu_send_side_bwe_report_due(sfu_send_side_bwe_t *b, int probing, int64_t now_us)
{
    if (b->feedback_us < 0 && b->remb_us < 0)
        return 0;                                 /* nothing measured: the start rate is no news */
    if (b->reported_us >= 0 && now_us - b->reported_us < SFU_BWE_REPORT_INTERVAL_US)
        return 0;
    uint64_t est = sfu_send_side_bwe_estimate(b, now_us);
    if (probing && b->reported_us >= 0 && est > b->reported_bps)
        return 0;                                 /* the next, higher cluster may take the rise back */
    uint64_t diff = est > b->reported_bps ? est - b->reported_bps : b->reported_bps - est;
    if (b->reported_us >= 0 && diff * 100 <= b->reported_bps * SFU_BWE_REPORT_CHANGE_PERCENT)
        return 0;
    b->reported_bps = est;
    b->reported_us = now_us;
    return 1;
}
