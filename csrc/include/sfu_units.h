/*
 * sfu_units.h - the pure decision units of the data plane (csrc/rtc/).
 *
 * Each unit is state in a caller-owned struct plus functions over it; none
 * reads a clock (time is the `now_ns` argument, CLOCK_MONOTONIC ns in the
 * product), does I/O or touches the loop's transmit batch.  The drivers
 * (rtc/consumer.c, producer.c, transport.c, transport_rtcp.c) own the
 * structs, read the clock and send what the units decide.
 *
 * This header is also the API of the test-facing extension module
 * sfu._units (build_ext.py; tests/unit/c/), which cffi sees after
 * sfu_types.h and sfu_packet.h: see sfu_types.h for the rules.
 */
#ifndef SFU_UNITS_H
#define SFU_UNITS_H

#include "sfu_types.h"
#include "sfu_packet.h"

/* ------------------------------------------------------------------ */
/* Which layers of a scalable video stream (VP9/AV1 SVC) one consumer
 * forwards (svc_layer_selector.c).  The stream allocator sets a target
 * spatial and temporal layer; the layers forwarded follow it where the
 * subscriber can decode the change: down at the start of the next picture
 * (its spatial layer 0), spatial up only at a key frame (L3T3_KEY and the
 * like: upper layers depend on lower ones only there; the selector asks for
 * one when a layer it wants arrives), temporal up at a switching-up point.  A packet above the
 * layers forwarded is dropped; the end of a layer frame at the top spatial
 * layer forwarded gets the marker bit (the end of the subscriber's picture). */
typedef struct {
    int8_t   target_spatial;       /* SFU_SVC_ALL: no selection */
    int8_t   target_temporal;
    int8_t   spatial;              /* forwarded now: layers <= these */
    int8_t   temporal;
    uint8_t  want_keyframe;        /* a wanted spatial layer arrives and waits for a key frame: ask */
    uint8_t  _pad[3];
    uint64_t switches;             /* changes of the layers forwarded */
    uint64_t dropped;              /* packets above them */
} sfu_svc_selector_t;

void sfu_svc_selector_init(sfu_svc_selector_t *s);
void sfu_svc_selector_set_target(sfu_svc_selector_t *s, int spatial, int temporal);
/* packet `layers` (keyframe: it starts a key frame): 1 to forward it, with
 * *marker the marker bit it goes with (in: its own); 0 to leave it out */
int sfu_svc_selector_select(sfu_svc_selector_t *s, const sfu_video_layers_t *layers, int keyframe, int *marker);

/* ------------------------------------------------------------------ */
/* Sequence number and timestamp rewriting of one consumer (seq_manager.c).
 *
 * out_seq = in_seq + seq_off, out_ts = in_ts + ts_off (mod 2^16 / 2^32).
 * The first packet maps to seq_start.  After a resync (the consumer was
 * paused) the next packet continues right after the newest sequence number
 * sent; so does a jump of SFU_SEQ_MAX_DROPOUT or more ahead, or of
 * SFU_SEQ_MAX_MISORDER or more back, from the newest input sent (RFC 3550
 * A.1's limits: a publisher restart or a long gap).  After a source switch (simulcast layer) the timestamps also
 * continue, by the time elapsed since the newest packet sent.
 *
 * Padding (probes, sfu_seq_manager_pad) takes the next output sequence
 * numbers, only at a frame boundary (the newest packet sent had the marker
 * bit), with the newest timestamp sent; the media after it moves up by as
 * many.  A packet the consumer leaves out (a scalable stream's layer it
 * does not forward, sfu_seq_manager_drop) gives its number up: the media
 * after it moves down by one.  Each such change of the offset (a run of
 * consecutive left-out packets counts once: an SVC picture's upper layers)
 * is kept as a boundary for a while, so a late packet from before it keeps
 * the number it would have had: the output stays contiguous without
 * duplicates.  A late packet from before the oldest of SFU_SEQ_BOUNDARIES
 * kept, or more than SFU_SEQ_MAX_MISORDER old, gets the newer offset.       */
#define SFU_SEQ_MAX_DROPOUT 3000
#define SFU_SEQ_MAX_MISORDER 100
#define SFU_SEQ_BOUNDARIES 16

typedef struct {
    uint16_t seq_start;        /* output sequence number of the first packet */
    uint16_t seq_off;
    uint32_t ts_off;
    uint16_t last_out_seq;     /* newest output sequence number sent (padding included) */
    uint16_t max_in;           /* newest input sequence number mapped or dropped */
    uint32_t last_out_ts;      /* the output timestamp of the newest sent ... */
    uint64_t last_out_ns;      /* ... and when it was sent */
    uint64_t sent;             /* packets sent (sfu_seq_manager_sent calls) */
    uint64_t padded;           /* padding packets numbered (sfu_seq_manager_pad) */
    uint64_t dropped;          /* packets left out with their number given up (sfu_seq_manager_drop) */
    uint64_t late_drops;       /* ... left out too late for that: their number stays a gap */
    /* the offset changes (padding, drops) a late packet may still be from before, oldest
     * first: an input before bound_in[i] (within SFU_SEQ_MAX_MISORDER) keeps bound_off[i] */
    uint16_t bound_in[16];     /* SFU_SEQ_BOUNDARIES; a run of left-out packets is one */
    uint16_t bound_off[16];
    uint8_t  n_bounds;
    uint8_t  frame_end;        /* the newest packet sent had the marker bit */
    uint8_t  started;          /* seq_off fixed by the first packet */
    uint8_t  resync;           /* the next packet re-bases seq_off */
    uint8_t  ts_resync;        /* the next packet re-bases ts_off (new source) */
    uint8_t  _pad1[3];
} sfu_seq_manager_t;

void sfu_seq_manager_init(sfu_seq_manager_t *m, uint16_t seq_start, uint32_t ts_offset);
/* the output sequence number and timestamp of an input packet (re-basing
 * the offsets when a rule above says so); clock_hz is the source's RTP
 * clock rate, used only to continue the timestamps after a source switch */
void sfu_seq_manager_map(sfu_seq_manager_t *m, uint16_t in_seq, uint32_t in_ts, uint32_t clock_hz,
                         uint64_t now_ns, uint16_t *out_seq, uint32_t *out_ts);
/* the mapped packet (out_seq, out_ts, its marker bit) was sent at now_ns */
void sfu_seq_manager_sent(sfu_seq_manager_t *m, uint16_t out_seq, uint32_t out_ts, int marker, uint64_t now_ns);
/* a padding packet is to follow the newest packet sent: 1 and its sequence
 * number and timestamp (counted as sent), or 0 when not at a frame
 * boundary (nothing sent yet, the newest had no marker bit); also while
 * paused (a resync pending: the next packet continues after the padding) */
int sfu_seq_manager_pad(sfu_seq_manager_t *m, uint16_t *out_seq, uint32_t *out_ts);
/* packets were skipped (paused consumer): the next one continues the output */
void sfu_seq_manager_resync(sfu_seq_manager_t *m);
/* input packet in_seq is left out (not sent): the packets after it take
 * its number.  A packet older than the newest input is too late for that
 * (counted in late_drops; its number stays a gap, the receiver NACKs it). */
void sfu_seq_manager_drop(sfu_seq_manager_t *m, uint16_t in_seq);
/* the consumer follows another source from the next packet on */
void sfu_seq_manager_source_switch(sfu_seq_manager_t *m);
/* the output timestamp "now" extrapolates the newest packet sent (sender reports) */
uint32_t sfu_seq_manager_ts_at(const sfu_seq_manager_t *m, uint32_t clock_hz, uint64_t now_ns);

/* ------------------------------------------------------------------ */
/* Key frame request throttle of one producer (keyframe_request.c): at most
 * one PLI (or cross-worker request) per SFU_KEYFRAME_REQUEST_INTERVAL_NS,
 * however many subscribers ask.  A request inside the interval is held, not
 * lost: it goes out when the interval ends (sfu_keyframe_request_due) unless
 * a key frame came first.  Without that, a new subscriber whose first ask
 * lands just after another's waits for its own next ask, seconds later once
 * its backoff grows.  now_ns must be > 0.                               */
#define SFU_KEYFRAME_REQUEST_INTERVAL_NS 500000000

typedef struct {
    uint64_t last_ns;          /* last request let through, 0 = never */
    uint32_t held;             /* a request came inside the interval: send it when it ends */
} sfu_keyframe_request_t;

/* 1: send a request now (remembered as the last one); 0: held for later */
int sfu_keyframe_request_allow(sfu_keyframe_request_t *k, uint64_t now_ns);
/* 1: the held request is due now (sent: remembered as the last one) */
int sfu_keyframe_request_due(sfu_keyframe_request_t *k, uint64_t now_ns);
/* a key frame arrived: what was held is answered */
void sfu_keyframe_request_answered(sfu_keyframe_request_t *k);

/* What one subscriber (one consumer) may ask for (keyframe_request.c), before
 * its producer's throttle: a PLI/FIR at most once per interval, the interval
 * 1 s, doubling up to 4 s while the subscriber keeps asking inside it, back
 * to 1 s once it was quiet for two intervals.  A subscriber on a lossy link
 * cannot make its publisher send key frames to everyone twice a second.   */
#define SFU_SUBSCRIBER_PLI_INTERVAL_NS 1000000000ull
#define SFU_SUBSCRIBER_PLI_MAX_INTERVAL_NS 4000000000ull

typedef struct {
    uint64_t last_ns;          /* last request let through, 0 = never */
    uint64_t interval_ns;      /* current interval, 0 = not started */
    uint32_t backed_off;       /* the interval grew since the last request let through */
} sfu_subscriber_pli_t;

/* 1: pass the subscriber's request on; 0: throttled.  now_ns must be > 0. */
int sfu_subscriber_pli_allow(sfu_subscriber_pli_t *s, uint64_t now_ns);

/* ------------------------------------------------------------------ */
/* Header extension id rewrite (header_ext_rewrite.c): the ids of an
 * outgoing copy become the ids the subscriber negotiated; map[in] = out
 * (map has 16 entries, 0 = remove; map[0] and map[15] are never used).
 * A removed element becomes padding (zero bytes, RFC 8285 4.2/4.3), so the
 * packet keeps its size; what cannot be read (id 15 in the one-byte form,
 * an element running past the block, an unknown profile) is zeroed up to
 * the end of the block.  `rtp` is the sfu_rtp_parse() result of `pkt`.   */
void sfu_header_ext_rewrite(uint8_t *pkt, const sfu_rtp_t *rtp, const uint8_t *map);

/* ------------------------------------------------------------------ */
/* Receive statistics of one incoming stream and its RFC 3550 report block
 * (rtp_stream_recv.c; RFC 3550 A.1 sequence validation, A.3 loss, A.8
 * jitter, 6.4.1 LSR/DLSR).                                              */
typedef struct {
    uint32_t clock_hz;
    uint8_t  initialized;
    uint8_t  have_transit;
    uint16_t max_seq;
    uint32_t base_seq;
    uint32_t bad_seq;
    uint32_t cycles;           /* sequence number wraps << 16 */
    uint32_t received;
    uint32_t expected_prior;   /* at the last report block */
    uint32_t received_prior;
    uint32_t transit;
    uint32_t jitter16;         /* interarrival jitter * 16, timestamp units */
    uint32_t last_sr_mid;      /* middle 32 bits of the last SR's NTP time */
    uint64_t last_sr_ns;       /* when it arrived */
} sfu_rtp_stream_recv_t;

void sfu_rtp_stream_recv_init(sfu_rtp_stream_recv_t *s, uint32_t clock_hz);
void sfu_rtp_stream_recv_update(sfu_rtp_stream_recv_t *s, uint16_t seq, uint32_t ts, uint64_t arrival_ns);
void sfu_rtp_stream_recv_on_sr(sfu_rtp_stream_recv_t *s, uint32_t ntp_sec, uint32_t ntp_frac,
                               uint64_t arrival_ns);
/* the 24-byte report block (SFU_REPORT_BLOCK_LEN) about `ssrc` at now_ns
 * into out; returns 24, or 0 before any packet.  Starts a new loss
 * interval (fraction lost is over the packets since the last call). */
int sfu_rtp_stream_recv_report_block(sfu_rtp_stream_recv_t *s, uint32_t ssrc, uint64_t now_ns, uint8_t *out);

/* ------------------------------------------------------------------ */
/* Retransmission buffer (rtp_retransmission_buffer.c): the packet cache of
 * a producer (input sequence number -> packet), the send history of a
 * consumer (output sequence number -> what was sent), and the resend
 * policy answering a NACK: at most SFU_RESEND_MAX times per packet, at
 * least SFU_RESEND_MIN_GAP_NS apart.                                    */
#define SFU_RESEND_MAX 3
#define SFU_RESEND_MIN_GAP_NS 100000000
#define SFU_SEND_HISTORY_SLOTS 512

typedef struct {
    uint32_t seq1;             /* sequence number + 1 of the stored packet, 0 = empty */
    uint16_t len;
} sfu_packet_cache_meta_t;

typedef struct {
    uint8_t *data;             /* slots * SFU_MTU bytes */
    sfu_packet_cache_meta_t *meta;
    uint32_t mask;             /* slots - 1 */
} sfu_packet_cache_t;

/* slots: a power of two >= 2; SFU_OK, SFU_EINVAL or SFU_ENOMEM */
int sfu_packet_cache_init(sfu_packet_cache_t *c, uint32_t slots);
void sfu_packet_cache_free(sfu_packet_cache_t *c);
void sfu_packet_cache_put(sfu_packet_cache_t *c, uint16_t seq, const uint8_t *pkt, uint32_t len);
/* the packet stored for seq (sets *len), or NULL when overwritten / never stored */
const uint8_t *sfu_packet_cache_get(const sfu_packet_cache_t *c, uint16_t seq, uint32_t *len);

typedef struct {
    uint32_t out_seq1;         /* output sequence number + 1, 0 = empty */
    uint16_t in_seq;           /* the source packet's sequence number ... */
    uint8_t  resends;
    uint8_t  marker;           /* sent with the marker bit set here (the end of a selected SVC picture) */
    uint32_t out_ts;           /* ... and the output timestamp it was sent with */
    uint32_t producer_id;      /* ... and whose cache holds it */
    uint64_t last_ns;          /* last resend, 0 = none yet */
} sfu_sent_packet_t;

typedef struct {
    sfu_sent_packet_t e[512];  /* SFU_SEND_HISTORY_SLOTS */
} sfu_send_history_t;

/* the producer id of a padding packet's entry: NACKs for it are not answered */
#define SFU_PADDING_PRODUCER 0

void sfu_send_history_put(sfu_send_history_t *h, uint16_t out_seq, uint16_t in_seq, uint32_t out_ts,
                          uint32_t producer_id);
/* the entry of out_seq, or NULL when overwritten / never sent */
sfu_sent_packet_t *sfu_send_history_get(sfu_send_history_t *h, uint16_t out_seq);

/* 1 when the NACKed packet `e` (NULL: not in the history) may be resent at now_ns */
int sfu_resend_allowed(const sfu_sent_packet_t *e, uint64_t now_ns);
/* it was resent at now_ns */
void sfu_resend_done(sfu_sent_packet_t *e, uint64_t now_ns);

/* ------------------------------------------------------------------ */
/* Transport-wide congestion control, receive side (tcc_server.c;
 * draft-holmer-rmcat-transport-wide-cc-extensions-01): the register of
 * arrival times by transport-wide sequence number and the RTPFB FMT=15
 * feedback packets built from it, so publishers' send-side bandwidth
 * estimation works.  Arrival times are µs on any monotonic clock.       */
#define SFU_TCC_SLOTS 1024

typedef struct {
    uint8_t  started;
    uint8_t  pending;          /* something arrived that no feedback covered yet */
    uint8_t  fb_count;         /* feedback packet count (8 bits, wraps) */
    uint8_t  _pad[5];
    int64_t  base;             /* first unreported sequence number (unwrapped) */
    int64_t  max;              /* highest sequence number recorded (unwrapped) */
    uint64_t arrival[1024];    /* SFU_TCC_SLOTS; arrival µs, 0 = not received */
} sfu_tcc_server_t;

void sfu_tcc_server_init(sfu_tcc_server_t *t);
void sfu_tcc_server_record(sfu_tcc_server_t *t, uint16_t seq, uint64_t arrival_us);
/* one feedback packet of at most cap bytes covering what arrived since the
 * last one (or as much of it as fits); returns its length, 0 when there is
 * nothing to report or cap < 64 */
uint32_t sfu_tcc_server_build(sfu_tcc_server_t *t, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t *b,
                              uint32_t cap);

/* ------------------------------------------------------------------ */
/* Activity of one producer (producer_activity.c), the data plane's version
 * of the room's once-a-second layer poll: a producer is active from its
 * creation; it becomes inactive once nothing arrived for
 * SFU_PRODUCER_INACTIVE_NS, and active again at the first packet after
 * that.  The loop reports each change (SFU_REC_PRODUCER_INACTIVE/ACTIVE). */
#define SFU_PRODUCER_INACTIVE_NS 1000000000

typedef struct {
    uint64_t last_ns;          /* creation or last packet */
    uint8_t  active;
    uint8_t  _pad[7];
} sfu_producer_activity_t;

void sfu_producer_activity_init(sfu_producer_activity_t *a, uint64_t now_ns);
/* a packet arrived: 1 when this makes an inactive producer active */
int sfu_producer_activity_on_packet(sfu_producer_activity_t *a, uint64_t now_ns);
/* timer: 1 when an active producer received nothing for SFU_PRODUCER_INACTIVE_NS */
int sfu_producer_activity_check(sfu_producer_activity_t *a, uint64_t now_ns);

/* ------------------------------------------------------------------ */
/* NACK generator of one received video stream (nack_generator.c): the
 * sequence numbers missing from what the publisher sent, asked for again
 * (RFC 4585 generic NACK) at most once per RTT (SFU_NACK_DEFAULT_RTT_NS
 * when not known, never more often than SFU_NACK_MIN_INTERVAL_NS), given
 * up after SFU_NACK_MAX_RETRIES requests or SFU_NACK_MAX_AGE_NS.  Only
 * the SFU_NACK_LIST_MAX sequence numbers behind the newest are tracked: a
 * packet SFU_SEQ_MAX_MISORDER or more behind would be taken for a
 * restart by the consumers' rewriting (seq_manager.c), so older ones are
 * given up.  The same rule restarts the tracking: a packet that far
 * behind, or SFU_SEQ_MAX_DROPOUT or more ahead.  Every missing sequence
 * number ends as recovered or lost (or is still in the list); the driver
 * asks for a key frame when `lost` moved.                               */
#define SFU_NACK_LIST_MAX 99       /* SFU_SEQ_MAX_MISORDER - 1 */
#define SFU_NACK_MAX_RETRIES 10
#define SFU_NACK_MAX_AGE_NS 1000000000
#define SFU_NACK_DEFAULT_RTT_NS 100000000
#define SFU_NACK_MIN_INTERVAL_NS 20000000

/* what a packet was to the generator (sfu_nack_generator_on_packet) */
#define SFU_NACK_NEWEST 0          /* newer than any before (the holes before it are missing) */
#define SFU_NACK_FILLED 1          /* one of the missing */
#define SFU_NACK_OLD 2             /* older than the newest and not missing: a duplicate */
#define SFU_NACK_RESET 3           /* too far from the newest: tracking starts over at it */

typedef struct {
    uint16_t seq;
    uint8_t  retries;          /* NACKs sent for it */
    uint8_t  _pad[5];
    uint64_t missing_ns;       /* when it was found missing */
    uint64_t sent_ns;          /* last NACK, 0 = none yet */
} sfu_nack_entry_t;

typedef struct {
    uint8_t  started;
    uint8_t  _pad;
    uint16_t max_seq;          /* newest sequence number received */
    uint32_t n;                /* entries in `missing`, oldest first */
    uint64_t requested;        /* sequence numbers put in NACKs (each retry counts) */
    uint64_t recovered;        /* missing ones that arrived */
    uint64_t lost;             /* missing ones given up */
    sfu_nack_entry_t missing[99];     /* SFU_NACK_LIST_MAX */
} sfu_nack_generator_t;

void sfu_nack_generator_init(sfu_nack_generator_t *g);
/* a packet arrived; `repaired` (an RTX packet) only fills a hole, it never
 * moves the newest sequence number.  Returns SFU_NACK_*. */
int sfu_nack_generator_on_packet(sfu_nack_generator_t *g, uint16_t seq, int repaired, uint64_t now_ns);
/* the sequence numbers to ask for at now_ns (oldest first, at most cap)
 * into out, counted as requested; first gives up those past their retries
 * or age.  rtt_ns 0 = not known. */
uint32_t sfu_nack_generator_due(sfu_nack_generator_t *g, uint64_t now_ns, uint64_t rtt_ns, uint16_t *out,
                                uint32_t cap);

#endif
