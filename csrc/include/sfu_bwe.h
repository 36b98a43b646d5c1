/*
 * sfu_bwe.h - send-side bandwidth estimation of one subscriber transport:
 * the pure units behind it (csrc/rtc/tcc_send_history.c, bwe_delay.c,
 * bwe_loss.c, probe_controller.c, send_side_bwe.c) and the pacer in front
 * of what it sends (pacer.c).
 *
 * The transport stamps a transport-wide sequence number on every packet it
 * sends (the history hands them out), the subscriber's transport-cc
 * feedback (sfu_tcc_feedback_parse) says when each arrived, and the
 * estimate follows from the delay trend, the loss and probes; REMB is the
 * fallback when the subscriber sends no transport-cc feedback.  Like
 * sfu_units.h: no clock, no I/O; times are µs (`now_us` on the sender's
 * monotonic clock, arrivals on the receiver's), rates bit/s.  Also part of
 * the test-facing module sfu._units (tests/unit/c/).
 */
#ifndef SFU_BWE_H
#define SFU_BWE_H

#include "sfu_types.h"
#include "sfu_packet.h"

/* ------------------------------------------------------------------ */
/* Send history by transport-wide sequence number (tcc_send_history.c):
 * what was sent when, how big, and what the feedback said about it.
 * Sequence numbers are unwrapped (int64) inside; the wire carries 16 bits.
 * The ring keeps the newest SFU_TCC_HISTORY_SLOTS packets; feedback about
 * an older one is counted as unknown.                                    */
#define SFU_TCC_HISTORY_SLOTS 2048

#define SFU_TCC_SENT_MEDIA 0
#define SFU_TCC_SENT_PROBE 1       /* part of a probe cluster */
#define SFU_TCC_SENT_PADDING 2     /* padding-only packet */
#define SFU_TCC_SENT_RTX 4         /* a retransmission */

#define SFU_TCC_STATE_UNREPORTED 0
#define SFU_TCC_STATE_RECEIVED 1
#define SFU_TCC_STATE_LOST 2

typedef struct {
    int64_t  seq;              /* unwrapped sequence number; -1: empty slot */
    int64_t  send_us;
    int64_t  arrival_us;       /* receiver's clock, valid when RECEIVED */
    uint16_t size;             /* bytes on the wire (RTP header + payload) */
    uint8_t  flags;            /* SFU_TCC_SENT_* */
    uint8_t  state;            /* SFU_TCC_STATE_* */
    int16_t  cluster;          /* probe cluster id, -1: none */
    uint16_t _pad;
} sfu_tcc_sent_t;

/* one packet whose state a feedback changed, in sequence order */
typedef struct {
    int64_t  seq;
    int64_t  send_us;
    int64_t  arrival_us;       /* -1: reported lost */
    uint16_t size;
    uint8_t  flags;
    uint8_t  _pad;
    int16_t  cluster;
    uint16_t _pad2;
} sfu_tcc_packet_result_t;

typedef struct {
    int64_t  next_seq;         /* unwrapped number of the next packet sent */
    uint64_t added;            /* packets entered */
    int64_t  ref_unwrapped;    /* receiver reference time of the last feedback, 64 ms units, unwrapped */
    int64_t  newest_reported;  /* highest sequence number any feedback covered, -1: none */
    int64_t  newest_arrival_us;/* latest arrival reported */
    uint8_t  have_ref;
    uint8_t  _pad[7];
    uint64_t feedback_packets; /* feedback applied */
    uint64_t unknown;          /* reported sequence numbers not (or no longer) in the history */
    uint64_t late;             /* reported lost, then received */
    sfu_tcc_sent_t e[2048];    /* SFU_TCC_HISTORY_SLOTS */
} sfu_tcc_send_history_t;

void sfu_tcc_send_history_init(sfu_tcc_send_history_t *h, uint16_t first_seq);
/* a packet is sent now: returns the transport-wide sequence number to stamp on it */
uint16_t sfu_tcc_send_history_add(sfu_tcc_send_history_t *h, uint32_t size, uint8_t flags, int16_t cluster,
                                  int64_t now_us);
/* the number the next sfu_tcc_send_history_add will hand out (to stamp it
 * before the packet's final size is known) */
uint16_t sfu_tcc_send_history_next_seq(const sfu_tcc_send_history_t *h);
/* the entry of a (16-bit) sequence number near the newest sent, or NULL */
const sfu_tcc_sent_t *sfu_tcc_send_history_get(const sfu_tcc_send_history_t *h, uint16_t seq);
/* apply one parsed feedback: marks packets received (with their arrival on
 * the receiver's clock, the reference time unwrapped against the previous
 * feedback's) or lost, and writes the packets whose state it changed into
 * out (at most cap, in sequence order); returns how many */
uint32_t sfu_tcc_send_history_on_feedback(sfu_tcc_send_history_t *h, const sfu_tcc_feedback_t *fb,
                                          const sfu_tcc_feedback_packet_t *pkts, sfu_tcc_packet_result_t *out,
                                          uint32_t cap);
/* bit/s received: bytes of the packets that arrived in the last window_us
 * of arrival time (receiver's clock) before the newest arrival, over that
 * span (window_us, or less at the start); 0 with fewer than 2 packets */
uint64_t sfu_tcc_send_history_acked_bps(const sfu_tcc_send_history_t *h, int64_t window_us);
/* loss among the reported packets sent after since_send_us (sender's
 * clock): sets *reported and returns lost / reported (0 when none) */
double sfu_tcc_send_history_loss(const sfu_tcc_send_history_t *h, int64_t since_send_us, uint32_t *reported);

/* ------------------------------------------------------------------ */
/* Delay-based estimate (bwe_delay.c), after libwebrtc's goog_cc: packets
 * sent within SFU_BWE_GROUP_US of each other form a group; the growth of
 * one-way delay variation between groups goes through a trendline filter
 * (least-squares slope over SFU_BWE_TRENDLINE_WINDOW smoothed points),
 * compared with an adaptive threshold: overuse when above it for more than
 * SFU_BWE_OVERUSE_TIME_US and still growing.  AIMD rate control answers:
 * overuse -> 0.85 x the acknowledged bitrate; normal -> increase (8 %/s
 * while the link capacity is unknown, about a packet per response time
 * near it), never beyond 1.5 x the acknowledged bitrate + 10 kbit/s;
 * underuse -> hold while the queue drains.                               */
#define SFU_BWE_GROUP_US 5000
#define SFU_BWE_TRENDLINE_WINDOW 20

#define SFU_BWE_USAGE_NORMAL 0
#define SFU_BWE_USAGE_UNDERUSING 1
#define SFU_BWE_USAGE_OVERUSING 2

#define SFU_BWE_RATE_HOLD 0
#define SFU_BWE_RATE_INCREASE 1
#define SFU_BWE_RATE_DECREASE 2

typedef struct {
    int64_t  first_send_us;    /* -1: no group yet */
    int64_t  last_send_us;
    int64_t  first_arrival_us;
    int64_t  last_arrival_us;  /* the group's completion time */
    uint64_t bytes;
} sfu_bwe_group_t;

typedef struct {
    /* inter-arrival grouping */
    sfu_bwe_group_t cur, prev;
    uint32_t reordered;        /* consecutive groups whose arrival went back */
    uint32_t _pad0;
    /* trendline filter */
    uint32_t num_deltas;
    uint32_t points;           /* filled entries of x/y (<= SFU_BWE_TRENDLINE_WINDOW) */
    uint32_t point_head;
    uint32_t _pad1;
    double   x[20];            /* SFU_BWE_TRENDLINE_WINDOW: arrival ms since the first delta */
    double   y[20];            /* smoothed accumulated delay, ms */
    int64_t  first_arrival_us; /* of the first delta, -1: none */
    double   accumulated_ms;
    double   smoothed_ms;
    double   trend;            /* the last slope */
    double   prev_trend;
    /* overuse detector */
    double   threshold;        /* ms-scaled, adaptive, 6..600 */
    double   modified_trend;
    double   time_over_ms;     /* -1: not over the threshold */
    uint32_t overuse_count;
    uint8_t  usage;            /* SFU_BWE_USAGE_* */
    uint8_t  _pad2[3];
    int64_t  threshold_update_us; /* -1: never */
    /* AIMD rate control */
    uint64_t bps;
    uint64_t min_bps, max_bps;
    uint8_t  rate_state;       /* SFU_BWE_RATE_* */
    uint8_t  _pad3[7];
    int64_t  rate_update_us;   /* last rate change decision, -1: none */
    int64_t  last_decrease_us; /* -1: none */
    double   capacity_kbps;    /* link capacity estimate at overuse, < 0: unknown */
    double   capacity_dev;     /* its normalised variance */
} sfu_bwe_delay_t;

void sfu_bwe_delay_init(sfu_bwe_delay_t *d, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps);
/* one acknowledged packet, in sequence order: send time (sender's clock),
 * arrival (receiver's), size; now_us the feedback's arrival at the sender */
void sfu_bwe_delay_on_packet(sfu_bwe_delay_t *d, int64_t send_us, int64_t arrival_us, uint32_t size,
                             int64_t now_us);
/* after a feedback: rate control with the detector's usage, the acked
 * bitrate (0: not known yet) and the round-trip time; returns the estimate */
uint64_t sfu_bwe_delay_update(sfu_bwe_delay_t *d, uint64_t acked_bps, int64_t rtt_us, int64_t now_us);
/* a probe measured probe_bps: the estimate jumps up to it (never down) */
void sfu_bwe_delay_on_probe(sfu_bwe_delay_t *d, uint64_t probe_bps, int64_t now_us);
/* a probe found the link's rate at bps: the estimate drops to it (never up) */
void sfu_bwe_delay_on_ceiling(sfu_bwe_delay_t *d, uint64_t bps, int64_t now_us);

/* ------------------------------------------------------------------ */
/* Loss-based limit (bwe_loss.c), after libwebrtc's classic send-side
 * estimation: loss above 10 % -> rate x (1 - loss / 2), at most once per
 * 300 ms + RTT; below 2 % -> the limit grows 8 % a second until it reaches
 * the delay-based estimate and stops limiting; in between, hold.
 * The loss is measured over at least SFU_BWE_LOSS_MIN_PACKETS reported
 * packets spanning at least SFU_BWE_LOSS_INTERVAL_US of send time, so 5 %
 * random loss reads as 5 %, not as the odd burst of a short sample.      */
#define SFU_BWE_LOSS_MIN_PACKETS 20
#define SFU_BWE_LOSS_INTERVAL_US 1000000

typedef struct {
    uint64_t bps;              /* the limit, while limiting */
    uint64_t min_bps, max_bps;
    uint8_t  limiting;         /* loss cut the rate and it has not grown back yet */
    uint8_t  _pad[7];
    int64_t  last_update_us;   /* -1: none */
    int64_t  last_decrease_us; /* -1: none */
    double   loss;             /* the last loss fraction used */
} sfu_bwe_loss_t;

void sfu_bwe_loss_init(sfu_bwe_loss_t *l, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps);
/* a loss fraction measured now; sending_bps is what arrives (the acked
 * bitrate, 0: not known), other_bps the estimate without this limit
 * (delay-based, REMB); returns the limit (max_bps: not limiting) */
uint64_t sfu_bwe_loss_update(sfu_bwe_loss_t *l, double loss, uint64_t sending_bps, uint64_t other_bps,
                             int64_t rtt_us, int64_t now_us);
/* a probe got probe_bps through: unless the last loss measured is still
 * above 10 %, the loss that set the limit is gone and the limit rises to
 * probe_bps (as goog_cc's probe results reset its loss-based estimate);
 * other_bps as above */
void sfu_bwe_loss_on_probe(sfu_bwe_loss_t *l, uint64_t probe_bps, uint64_t other_bps);
/* a probe found the link's rate at bps: a limit in force drops to it */
void sfu_bwe_loss_on_ceiling(sfu_bwe_loss_t *l, uint64_t bps);

/* ------------------------------------------------------------------ */
/* Send-side bandwidth estimation of one subscriber transport
 * (send_side_bwe.c): the history, the delay-based estimate and the loss
 * limit over the transport-cc feedback, REMB as the fallback.  The
 * estimate is min(delay-based, loss limit, REMB while fresh) within
 * [min_bps, max_bps]; with no transport-cc feedback for
 * SFU_BWE_FEEDBACK_TIMEOUT_US a fresh REMB (younger than
 * SFU_BWE_REMB_TIMEOUT_US) alone sets it, and if there was feedback before
 * and packets still go out, the delay-based estimate loses 20 % per
 * SFU_BWE_TIMEOUT_STEP_US of silence (goog_cc's feedback timeout).       */
#define SFU_BWE_ACKED_WINDOW_US 500000
#define SFU_BWE_FEEDBACK_TIMEOUT_US 2000000
#define SFU_BWE_REMB_TIMEOUT_US 5000000
#define SFU_BWE_TIMEOUT_STEP_US 1000000
#define SFU_BWE_REPORT_INTERVAL_US 500000  /* an estimate is reported at most this often ... */
#define SFU_BWE_REPORT_CHANGE_PERCENT 5     /* ... and only when it moved by more than this */

#define SFU_BWE_LIMIT_START 0      /* nothing measured yet: the start rate */
#define SFU_BWE_LIMIT_DELAY 1
#define SFU_BWE_LIMIT_LOSS 2
#define SFU_BWE_LIMIT_REMB 3
#define SFU_BWE_LIMIT_MIN 4
#define SFU_BWE_LIMIT_MAX 5
#define SFU_BWE_LIMIT_NO_FEEDBACK 6 /* transport-cc feedback stopped: decaying */

typedef struct {
    uint64_t estimate_bps;
    uint64_t delay_bps;
    uint64_t loss_bps;         /* the loss limit (max_bps: not limiting) */
    uint64_t remb_bps;         /* the last REMB, 0: none */
    uint64_t acked_bps;
    int64_t  rtt_us;           /* 0: not known */
    double   loss;             /* the last loss fraction measured */
    uint8_t  usage;            /* SFU_BWE_USAGE_* */
    uint8_t  rate_state;       /* SFU_BWE_RATE_* */
    uint8_t  limited_by;       /* SFU_BWE_LIMIT_* */
    uint8_t  _pad[5];
    uint64_t packets;          /* packets numbered (entered in the send history) */
    uint64_t feedback_packets; /* transport-cc feedback applied */
    uint64_t feedback_rejected;/* ... rejected by the parser */
    uint64_t unknown;          /* reported sequence numbers not in the history */
    uint64_t remb_packets;
    uint64_t remb_rejected;    /* REMB whose SSRC list runs past its packet */
    uint64_t feedback_rejects[9]; /* SFU_TCC_FB__COUNT: feedback_rejected by reason */
    /* congestion control (the transport driver's pacer and probes; 0 while off) */
    uint64_t probe_clusters;   /* probe clusters started */
    uint64_t probe_results;    /* ... that measured a rate */
    uint64_t probe_bps;        /* the last rate measured, 0: none */
    uint64_t padding_packets;  /* padding-only packets sent for probes */
    uint64_t pacing_bps;       /* the pacer's rate, 0: passing through */
    uint64_t pacer_queued;     /* packets waiting in the pacer */
    uint64_t pacer_delay_us;   /* how long the oldest of them has waited */
    uint64_t pacer_drops[2];   /* SFU_PACER_DROP_*: full, late */
} sfu_bwe_stats_t;

typedef struct {
    sfu_tcc_send_history_t history;
    sfu_bwe_delay_t delay;
    sfu_bwe_loss_t loss;
    uint64_t min_bps, max_bps;
    uint64_t estimate_bps;
    uint64_t acked_bps;
    uint64_t remb_bps;
    int64_t  remb_us;          /* -1: none */
    int64_t  feedback_us;      /* last feedback applied, -1: none */
    int64_t  rtt_us;
    int64_t  loss_mark_us;     /* loss is measured over packets sent after this */
    double   loss_fraction;
    uint8_t  limited_by;
    uint8_t  _pad[7];
    uint64_t remb_packets;
    uint64_t remb_rejected;
    uint64_t feedback_rejected;
    uint64_t feedback_rejects[9]; /* SFU_TCC_FB__COUNT, by reason */
    uint64_t reported_bps;     /* the estimate last reported (sfu_send_side_bwe_report_due) */
    int64_t  reported_us;      /* -1: never */
    int64_t  timeout_us;       /* last feedback-timeout decrease, -1: none */
} sfu_send_side_bwe_t;

void sfu_send_side_bwe_init(sfu_send_side_bwe_t *b, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps);
/* a packet of `size` bytes is sent now: the transport-wide sequence number to stamp on it */
uint16_t sfu_send_side_bwe_on_sent(sfu_send_side_bwe_t *b, uint32_t size, uint8_t flags, int16_t cluster,
                                   int64_t now_us);
/* one transport-cc feedback packet arrived now: SFU_TCC_FB_OK, or the
 * parser's reject reason (counted); results, when not NULL, receives the
 * packets it reported (at most cap; *n_results set) for probe evaluation */
int sfu_send_side_bwe_on_feedback(sfu_send_side_bwe_t *b, const uint8_t *buf, size_t len, int64_t now_us,
                                  sfu_tcc_packet_result_t *results, uint32_t cap, uint32_t *n_results);
/* a REMB (RFC draft-alvestrand-rmcat-remb) arrived now */
void sfu_send_side_bwe_on_remb(sfu_send_side_bwe_t *b, uint64_t bps, int64_t now_us);
/* a round-trip time measured otherwise (receiver reports) */
void sfu_send_side_bwe_on_rtt(sfu_send_side_bwe_t *b, int64_t rtt_us);
/* a probe cluster measured probe_bps (probe_controller.c) */
void sfu_send_side_bwe_on_probe(sfu_send_side_bwe_t *b, uint64_t probe_bps, int64_t now_us);
/* a probe cluster filled the link, which drained it at bps: the estimate is no higher (a
 * smaller cluster just before may have passed through a burst allowance unqueued) */
void sfu_send_side_bwe_on_probe_ceiling(sfu_send_side_bwe_t *b, uint64_t bps, int64_t now_us);
/* the estimate now (REMB and feedback ageing applied) */
uint64_t sfu_send_side_bwe_estimate(sfu_send_side_bwe_t *b, int64_t now_us);
void sfu_send_side_bwe_stats(sfu_send_side_bwe_t *b, int64_t now_us, sfu_bwe_stats_t *out);
/* 1 when the estimate should be reported now (and it counts as reported):
 * something was measured, SFU_BWE_REPORT_INTERVAL_US passed since the last
 * report, and the estimate moved by more than SFU_BWE_REPORT_CHANGE_PERCENT.
 * A rise waits while `probing` (sfu_probe_controller_probing): a cluster that
 * fits a link's burst allowance passes unqueued and overstates the room, and
 * the next, higher cluster, filling the link, takes that back (ceiling) */
int sfu_send_side_bwe_report_due(sfu_send_side_bwe_t *b, int probing, int64_t now_us);

/* ------------------------------------------------------------------ */
/* Probing (probe_controller.c): when to send a probe cluster (a burst at a
 * target rate above the estimate: media tagged with the cluster id, padding
 * for the rest) and what its feedback measured.  Clusters start: at the
 * beginning (3x and 6x the start rate, as goog_cc); again at twice a
 * result that reached 70 % of its target, while more is wanted; and every
 * interval while the wanted rate (the allocator's) is above the estimate,
 * the interval doubling after each probe that found nothing (up to
 * SFU_PROBE_INTERVAL_MAX_US) and shortened after the estimate dropped.
 * Never while the delay detector says overuse.  A cluster lasts
 * SFU_PROBE_CLUSTER_US and until it carried SFU_PROBE_MIN_PACKETS and
 * SFU_PROBE_MIN_BYTES (at most 4 x SFU_PROBE_CLUSTER_US).  Its result is
 * min(send rate, receive rate) of its received packets, 0.95 x the
 * receive rate when that is below 90 % of the send rate (the link was
 * saturated), nothing when fewer than SFU_PROBE_MIN_PACKETS or less than
 * 80 % of the reported packets arrived.  The receive rate is the lower of
 * the whole cluster's and its second half's: a token-bucket bottleneck
 * lets a burst through at once, so the first packets arrive faster than
 * the link carries (the second half arrives at the link's rate).        */
#define SFU_PROBE_CLUSTER_US 50000
#define SFU_PROBE_MIN_PACKETS 5
#define SFU_PROBE_MIN_BYTES 6000
#define SFU_PROBE_INTERVAL_US 2000000
#define SFU_PROBE_INTERVAL_MAX_US 5000000
#define SFU_PROBE_CLUSTERS 4
#define SFU_PROBE_BURST_PACKETS 16
#define SFU_PROBE_STARTUP_US 5000000

#define SFU_PROBE_FREE 0
#define SFU_PROBE_SENDING 1
#define SFU_PROBE_SENT 2           /* waiting for its feedback */

typedef struct {
    uint64_t target_bps;
    int64_t  start_us;
    int64_t  end_us;           /* sending ended */
    int64_t  first_send_us, last_send_us;     /* of the received packets */
    int64_t  first_arrival_us, last_arrival_us;
    uint64_t sent_bytes;
    uint64_t recv_bytes;
    /* the second half: from the received packet that passed sent_bytes / 2
     * (in sequence order, which a FIFO bottleneck keeps) to the last one */
    int64_t  mid_arrival_us, tail_last_arrival_us;
    uint64_t tail_bytes;       /* received after the mid packet */
    uint32_t sent_packets;
    uint32_t reported;
    uint32_t received;
    uint32_t tail_received;
    uint16_t last_send_size;   /* size of the latest-sent received packet */
    uint16_t first_arrival_size;
    int16_t  id;
    uint8_t  state;            /* SFU_PROBE_* */
    uint8_t  has_mid;          /* mid_arrival_us is set */
} sfu_probe_cluster_t;

typedef struct {
    sfu_probe_cluster_t c[4];  /* SFU_PROBE_CLUSTERS */
    int16_t  next_id;
    int16_t  active;           /* index in c of the cluster being sent, -1: none */
    uint8_t  initial_left;     /* start-up clusters not sent yet */
    uint8_t  _pad[3];
    uint64_t start_bps, max_bps;
    uint64_t wanted_bps;       /* what the allocator would send (0: nothing more) */
    uint64_t pending_bps;      /* the next cluster's target, 0: none queued */
    uint64_t high_bps;         /* the estimate before it dropped */
    int64_t  next_us;          /* next periodic probe */
    int64_t  interval_us;
    uint64_t last_result_bps;
    uint64_t clusters;         /* started */
    uint64_t results;          /* evaluated with a result */
    int64_t  init_us;          /* when probing was turned on */
    uint64_t saturated_bps;    /* set by on_feedback: the lowest rate a cluster that filled the
                                * link was drained at (0: none finished so) */
} sfu_probe_controller_t;

void sfu_probe_controller_init(sfu_probe_controller_t *p, uint64_t start_bps, uint64_t max_bps, int64_t now_us);
void sfu_probe_controller_set_wanted(sfu_probe_controller_t *p, uint64_t wanted_bps, int64_t now_us);
/* the cluster id to tag a packet sent now with (-1: none), starting or
 * ending a cluster as the rules say; estimate and usage are the estimator's */
int16_t sfu_probe_controller_cluster(sfu_probe_controller_t *p, uint64_t estimate_bps, uint8_t usage,
                                     int64_t now_us);
/* a packet of the active cluster was sent */
void sfu_probe_controller_on_sent(sfu_probe_controller_t *p, int16_t cluster, uint32_t size);
/* bytes of padding to send now so the active cluster keeps its target rate */
uint32_t sfu_probe_controller_padding(const sfu_probe_controller_t *p, int64_t now_us);
/* the transport driver's question every millisecond or so: how many padding
 * packets of packet_bytes (on the wire) to send now, at most
 * SFU_PROBE_BURST_PACKETS, tagged with *cluster (-1: none; media sent
 * meanwhile is tagged too).  No cluster starts while nothing can carry its
 * padding (can_pad 0: no video stream at a frame boundary); while packets
 * wait in the pacer (busy) a cluster goes on with media only */
uint32_t sfu_probe_controller_padding_packets(sfu_probe_controller_t *p, uint64_t estimate_bps, uint8_t usage,
                                              int can_pad, int busy, uint32_t packet_bytes, int64_t now_us,
                                              int16_t *cluster);
/* the cluster being sent, -1: none */
int16_t sfu_probe_controller_active(const sfu_probe_controller_t *p);
/* 1 while a cluster is sent or waits for its feedback, or the next one is queued: an estimate
 * a cluster raised may still be taken back by the next, higher one */
int sfu_probe_controller_probing(const sfu_probe_controller_t *p);
/* 1 while the start-up clusters are not all sent and evaluated, at most
 * SFU_PROBE_STARTUP_US after init: the estimate before them says little
 * (the transport driver holds its first report back meanwhile) */
int sfu_probe_controller_starting(const sfu_probe_controller_t *p, int64_t now_us);
/* the packets a feedback reported (sfu_send_side_bwe_on_feedback): returns
 * the rate a cluster measured (for sfu_send_side_bwe_on_probe), 0: none */
uint64_t sfu_probe_controller_on_feedback(sfu_probe_controller_t *p, const sfu_tcc_packet_result_t *results,
                                          uint32_t n, uint64_t estimate_bps, int64_t now_us);

/* ------------------------------------------------------------------ */
/* Pacer of one subscriber transport (pacer.c): a leaky bucket at the
 * pacing rate (SFU_PACER_FACTOR_PERCENT of the estimate; goog_cc's 2.5x
 * suits an encoder that paces its own average, but a forwarded key frame
 * sent at 2.5x overflows a small bottleneck queue) in front of what the
 * transport sends.  Audio never waits: it goes
 * at once and its bytes are charged to the budget.  Retransmissions and
 * video wait in two FIFOs, retransmissions first; padding goes only when
 * both are empty (the driver asks sfu_pacer_queued).  The budget grows at
 * the rate up to SFU_PACER_BURST_US of it (so a frame's packets still
 * leave together, in one GSO send); a packet may go while it is positive.
 * What waits drains within SFU_PACER_DRAIN_US: the rate rises to that,
 * up to SFU_PACER_DRAIN_MAX_FACTOR x (a key frame is late, not lost).  A
 * packet that waited SFU_PACER_MAX_DELAY_US all the same is dropped
 * (late); a full queue drops its oldest video, else its oldest
 * retransmission (full).  Rate 0: everything passes through.            */
#define SFU_PACER_SLOTS 256
#define SFU_PACER_FACTOR_PERCENT 125
#define SFU_PACER_BURST_US 20000
#define SFU_PACER_MAX_DELAY_US 500000
#define SFU_PACER_DRAIN_US 400000
#define SFU_PACER_DRAIN_MAX_FACTOR 4

#define SFU_PACE_AUDIO 0
#define SFU_PACE_RTX 1
#define SFU_PACE_VIDEO 2

#define SFU_PACER_DROP_FULL 0
#define SFU_PACER_DROP_LATE 1

typedef struct {
    int64_t  enqueued_us;
    uint16_t size;
    uint8_t  cls;              /* SFU_PACE_* */
    uint8_t  _pad[5];
} sfu_pacer_item_t;

typedef struct {
    sfu_pacer_item_t item[256];  /* SFU_PACER_SLOTS, by handle */
    uint16_t fifo[2][256];     /* handles waiting: [0] retransmissions, [1] video */
    uint16_t head[2];
    uint16_t count[2];
    uint16_t free_slots[256];
    uint16_t n_free;
    uint8_t  _pad[6];
    uint64_t rate_bps;         /* 0: pass through */
    int64_t  budget;           /* bytes that may go now; negative: owed */
    int64_t  last_us;          /* budget last grown */
    uint64_t queued_bytes;     /* waiting now */
    uint64_t sent;             /* packets let through (at once or after waiting) */
    uint64_t queued;           /* packets that had to wait */
    uint64_t drops[2];         /* SFU_PACER_DROP_* */
} sfu_pacer_t;

void sfu_pacer_init(sfu_pacer_t *p, int64_t now_us);
/* the pacing rate from now on (0: pass through) */
void sfu_pacer_set_rate(sfu_pacer_t *p, uint64_t bps, int64_t now_us);
/* a packet of class cls (SFU_PACE_*) is to be sent now: 1 = send it now
 * (its bytes charged); 0 = it waits in slot *handle, where the caller keeps
 * it until sfu_pacer_next hands that handle out */
int sfu_pacer_enqueue(sfu_pacer_t *p, uint8_t cls, uint32_t size, int64_t now_us, uint16_t *handle);
/* 1 and the handle of the next packet to send now (its slot is free once
 * the caller copied it out), 0 when none may go yet; late ones are dropped */
int sfu_pacer_next(sfu_pacer_t *p, int64_t now_us, uint16_t *handle);
/* packets waiting */
uint32_t sfu_pacer_queued(const sfu_pacer_t *p);
/* how long the oldest waiting packet has waited (0: none) */
int64_t sfu_pacer_delay_us(const sfu_pacer_t *p, int64_t now_us);

#endif
