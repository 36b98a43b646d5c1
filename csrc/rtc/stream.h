/* stream.h - per-stream RTP state used by the loop (see stream.c). */
#ifndef SFU_STREAM_H
#define SFU_STREAM_H
#include <stdint.h>

typedef struct {
    uint32_t clock_hz;
    uint8_t initialized, have_transit;
    uint16_t max_seq;
    uint32_t base_seq, bad_seq, cycles;
    uint32_t received, expected_prior, received_prior;
    uint32_t transit, jitter16;
    uint32_t last_sr_mid;          /* middle 32 bits of the last SR's NTP time */
    uint64_t last_sr_ns;           /* when it arrived (monotonic) */
} sfu_rx_stats_t;

void sfu_rx_init(sfu_rx_stats_t *s, uint32_t clock_hz);
void sfu_rx_update(sfu_rx_stats_t *s, uint16_t seq, uint32_t ts, uint64_t arrival_ns);
void sfu_rx_on_sr(sfu_rx_stats_t *s, uint32_t ntp_sec, uint32_t ntp_frac, uint64_t arrival_ns);
/* 24-byte RFC 3550 report block; returns 24, or 0 before any packet */
int sfu_rx_report_block(sfu_rx_stats_t *s, uint32_t ssrc, uint64_t now_ns, uint8_t *out);

typedef struct {
    uint32_t seq1;                 /* sequence number + 1 of the stored packet, 0 = empty */
    uint16_t len;
} sfu_cache_meta_t;

typedef struct {
    uint8_t *data;                 /* slots * SFU_MTU */
    sfu_cache_meta_t *meta;
    uint32_t mask;
} sfu_pkt_cache_t;

int sfu_cache_init(sfu_pkt_cache_t *c, uint32_t slots);
void sfu_cache_free(sfu_pkt_cache_t *c);
void sfu_cache_put(sfu_pkt_cache_t *c, uint16_t seq, const uint8_t *pkt, uint32_t len);
const uint8_t *sfu_cache_get(const sfu_pkt_cache_t *c, uint16_t seq, uint32_t *len);

#define SFU_HIST_SLOTS 512
typedef struct {
    uint32_t out_seq1;             /* out seq + 1, 0 = empty */
    uint16_t in_seq;
    uint8_t resends;
    uint8_t _pad;
    uint32_t out_ts;
    uint32_t producer_id;
    uint64_t last_ns;              /* last (re)send */
} sfu_sent_t;

typedef struct {
    sfu_sent_t e[SFU_HIST_SLOTS];
} sfu_send_hist_t;

void sfu_hist_put(sfu_send_hist_t *h, uint16_t out_seq, uint16_t in_seq, uint32_t out_ts, uint32_t producer_id);
sfu_sent_t *sfu_hist_get(sfu_send_hist_t *h, uint16_t out_seq);

uint32_t sfu_rtcp_build_sr(uint8_t *b, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets,
                           uint32_t octets);
uint32_t sfu_rtcp_build_rr(uint8_t *b, uint32_t sender_ssrc, const uint8_t *block);
uint32_t sfu_rtcp_build_pli(uint8_t *b, uint32_t sender_ssrc, uint32_t media_ssrc);
uint64_t sfu_ntp_from_unix_ns(uint64_t unix_ns);

#define SFU_TWCC_SLOTS 1024
typedef struct {
    uint8_t started, pending;
    uint8_t fb_count;
    int64_t base;                  /* first unreported transport-wide sequence number (unwrapped) */
    int64_t max;
    uint64_t arrival[SFU_TWCC_SLOTS];   /* arrival time in µs, 0 = not received */
} sfu_twcc_t;

void sfu_twcc_init(sfu_twcc_t *tw);
void sfu_twcc_record(sfu_twcc_t *tw, uint16_t seq, uint64_t arrival_us);
/* one transport-cc feedback packet (RTPFB FMT 15) covering what arrived
 * since the last one; 0 when there is nothing to report */
uint32_t sfu_twcc_build(sfu_twcc_t *tw, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t *b, uint32_t cap);
#endif
