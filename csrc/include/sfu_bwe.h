/*
 * sfu_bwe.h - send-side bandwidth estimation of one subscriber transport:
 * the pure units behind it (csrc/rtc/tcc_send_history.c, bwe_delay.c,
 * bwe_loss.c, probe_controller.c, send_side_bwe.c).
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

#endif
