/*
 * sfu_loadtest.h - the load-test packet engine (csrc/tools/): the C half of
 * `sfu load-test` and the benchmarks' generator/sink.  Its own cffi module,
 * sfu.loadtest._engine, built from csrc/tools/ with the packet layer and the
 * SRTP glue; the production extension sfu._native does not contain it.  See
 * sfu_types.h for the rules of this header.
 */
#ifndef SFU_LOADTEST_H
#define SFU_LOADTEST_H

#include "sfu_types.h"

/* ------------------------------------------------------------------ */
/* Load generator (bench, load tests): sends `count` RTP packets of `size`
 * bytes to `to` from fd at up to `pps` (0 = as fast as possible), with
 * sendmmsg batches of `batch`.  Returns packets sent.                   */
int64_t sfu_gen_rtp(int fd, const sfu_addr_t *to, uint32_t ssrc, uint8_t pt,
                    uint32_t size, int64_t count, double pps, uint32_t batch,
                    double max_seconds, void *srtp_session);
/* Sink: receive for up to `seconds` (or `count` packets) and count. */
typedef struct {
    uint64_t packets;
    uint64_t bytes;
    uint64_t bad;              /* failed to parse / decrypt */
    uint64_t first_ns;
    uint64_t last_ns;
} sfu_sink_stats_t;
int sfu_sink_run(const int *fds, int nfds, double seconds, int64_t count,
                 void *srtp_session, sfu_sink_stats_t *out);

/* ------------------------------------------------------------------ */
/* Load-test packet engine (sfu load-test): simulated publishers send
 * paced VP8-like video / opus-like audio, simulated subscribers check what
 * arrives.  Python does ICE/DTLS/signalling; these structs are allocated
 * by Python (ffi.new), configured before the threads start and read live
 * while they run (aligned 64-bit counters).                             */
#define SFU_LT_AUDIO 0
#define SFU_LT_VIDEO 1
#define SFU_LT_STREAMS_MAX 32       /* SSRCs one receiver socket tracks */
#define SFU_LT_HIST_US 100          /* latency histogram bucket width */
#define SFU_LT_HIST_BUCKETS 2001    /* 0..200 ms in 100 us buckets + overflow */
#define SFU_LT_TRAILER 12           /* magic (4) + CLOCK_REALTIME send ns (8) */
#define SFU_LT_MAGIC 1280592715     /* 0x4c54534b "LTSK", last 12 bytes of every payload */
#define SFU_LT_MAX_PAYLOAD 1200     /* video payload bytes per packet */
#define SFU_LT_EXT_STR 16           /* mid / rid bytes (one-byte extension limit) */
#define SFU_LT_CTL_SLOTS 512
#define SFU_LT_CTL_DATA 1500

typedef struct {
    /* configuration (before sfu_lt_send_run) */
    int32_t  fd;
    uint32_t ssrc;
    sfu_addr_t dest;
    void    *srtp;                 /* outbound srtp_t, NULL = plain RTP */
    uint8_t  pt;
    uint8_t  kind;                 /* SFU_LT_AUDIO / SFU_LT_VIDEO */
    uint8_t  codec;                /* video: SFU_CODEC_VP8, _VP9, _H264 or _AV1; audio: SFU_CODEC_OTHER */
    uint8_t  mid_ext_id;           /* one-byte extension ids 1..14, 0 = not sent */
    uint8_t  rid_ext_id;
    uint8_t  mid_len;
    uint8_t  rid_len;
    uint8_t  audio_level_ext_id;   /* RFC 6464 one-byte extension id, 0 = not sent (audio) */
    uint8_t  mid[16];
    uint8_t  rid[16];
    uint32_t clock_rate;
    uint32_t bitrate_bps;
    double   fps;                  /* video frames/s; audio packets/s */
    uint32_t keyframe_interval_ms; /* video; 0 = only the first frame and requests */
    /* set by the receiver thread (PLI/FIR) or Python: next frame is a key frame */
    uint32_t keyframe_request;
    /* live stats (written by the sender thread) */
    uint64_t packets;
    uint64_t bytes;                /* RTP payload bytes */
    uint64_t frames;
    uint64_t keyframes;
    uint64_t send_errors;
    uint64_t keyframe_requests;    /* requests that produced a key frame */
    uint64_t late_frames;          /* frames skipped because the thread fell behind */
    /* sender state (owned by the sender thread) */
    uint64_t next_due_ns;
    uint64_t last_key_ns;
    uint64_t frame_index;
    uint64_t start_ns;
    uint32_t ts_base;
    uint16_t seq;
    /* the level the audio-level extension carries, -dBov 0..127 (127: silence); Python may
     * change it while the sender runs (--simulate-speakers) */
    uint8_t  audio_level;
    uint8_t  _pad1;
} sfu_lt_sender_t;

typedef struct {
    uint32_t ssrc;
    uint8_t  pt;
    uint8_t  codec;                /* SFU_CODEC_* of its payload type (0: VP8 at 90 kHz) */
    uint8_t  _pad[2];
    uint32_t clock_rate;
    uint32_t first_ts;
    uint64_t packets;              /* unique packets (duplicates excluded) */
    uint64_t bytes;                /* RTP payload bytes (padding excluded) */
    uint64_t duplicates;
    uint64_t frames;               /* marker bits */
    uint64_t keyframes;            /* key frame starts (of its codec) */
    int64_t  base_ext_seq;         /* lowest extended sequence number seen */
    int64_t  max_ext_seq;          /* highest extended sequence number seen */
    double   jitter;               /* RFC 3550 interarrival jitter, timestamp units */
    double   last_transit;
    uint64_t first_ns;             /* CLOCK_MONOTONIC arrival of first / last packet */
    uint64_t last_ns;
    uint64_t lat_count;            /* one-way latency from the payload trailer */
    uint64_t lat_sum_ns;
    uint64_t lat_min_ns;
    uint64_t lat_max_ns;
    uint64_t seen[16];             /* 1024-packet window: duplicate detection */
    uint32_t hist[2001];           /* SFU_LT_HIST_BUCKETS */
    uint32_t _pad3;
} sfu_lt_stream_t;

typedef struct {
    /* configuration */
    int32_t  fd;
    uint32_t _pad0;
    void    *srtp;                 /* inbound srtp_t, NULL = plain RTP */
    uint32_t clock_rates[128];     /* per payload type; 0 = 90000 */
    uint8_t  codecs[128];          /* per payload type: SFU_CODEC_* (key frame counting); 0 = VP8 */
    /* live stats */
    uint64_t datagrams;
    uint64_t rx_bytes;             /* datagram bytes as received */
    uint64_t bad;                  /* SRTP/SRTCP unprotect or parse failures, unknown class */
    uint64_t rtcp;
    uint64_t plis;
    uint64_t firs;
    uint64_t nacks;
    uint64_t control;              /* STUN/DTLS queued for Python */
    uint64_t control_dropped;      /* STUN/DTLS dropped: queue full */
    uint64_t streams_full;         /* RTP of an SSRC beyond SFU_LT_STREAMS_MAX */
    uint32_t n_streams;            /* streams[0..n_streams) are valid */
    uint32_t _pad1;
    sfu_lt_stream_t streams[32];   /* SFU_LT_STREAMS_MAX */
} sfu_lt_socket_t;

typedef struct {
    uint32_t len;
    uint32_t sock;                 /* index into the sockets array */
    uint64_t ts_ns;                /* CLOCK_MONOTONIC arrival */
    sfu_addr_t from;
    uint8_t  data[1500];           /* SFU_LT_CTL_DATA */
} sfu_lt_ctl_slot_t;

/* single producer (receiver thread) / single consumer (Python) queue */
typedef struct {
    uint64_t head;                 /* next slot the producer writes */
    uint64_t _pad0[7];
    uint64_t tail;                 /* next slot the consumer reads */
    uint64_t _pad1[7];
    uint64_t dropped;
    uint64_t _pad2[7];
    sfu_lt_ctl_slot_t slots[512];  /* SFU_LT_CTL_SLOTS */
} sfu_lt_ctl_queue_t;

/* pops one queued datagram into *out: 1, or 0 when empty */
int sfu_lt_ctl_pop(sfu_lt_ctl_queue_t *q, sfu_lt_ctl_slot_t *out);
/* producer side (the receiver thread; exposed for tests): 1 queued, 0 full */
int sfu_lt_ctl_push(sfu_lt_ctl_queue_t *q, uint32_t sock, const sfu_addr_t *from,
                    const uint8_t *data, size_t len);

/* Pace all senders from the calling thread until `seconds` have elapsed
 * or *stop != 0.  Returns 0, or SFU_EINVAL on a bad configuration (a
 * sender's fps/bitrate/clock/extension settings). */
int sfu_lt_send_run(sfu_lt_sender_t *senders, int n, double seconds, volatile int *stop);
/* Build the next frame of sender `s` into caller buffers without sending
 * (tests, benchmarks): up to `cap` packets of SFU_MTU + SFU_SRTP_TRAILER_MAX
 * bytes each at bufs + i * (SFU_MTU + SFU_SRTP_TRAILER_MAX); lens[i] are
 * set.  Returns the packet count, or -1. Updates the sender's stats as if
 * sent. */
int sfu_lt_build_frame(sfu_lt_sender_t *s, uint8_t *bufs, int *lens, int cap);

/* Receive on all sockets (epoll + recvmmsg) until `seconds` have elapsed
 * or *stop != 0.  PLI/FIR naming one of `senders` sets its
 * keyframe_request.  ctl may be NULL (control datagrams then dropped). */
int sfu_lt_recv_run(sfu_lt_socket_t *socks, int n, sfu_lt_sender_t *senders, int nsenders,
                    sfu_lt_ctl_queue_t *ctl, double seconds, volatile int *stop);
/* Account one datagram received on socks[idx] (what sfu_lt_recv_run does
 * per datagram; buf is modified in place).  Returns the SFU_PKT_* class
 * it was handled as, or SFU_PKT_UNKNOWN when counted bad. */
int sfu_lt_recv_packet(sfu_lt_socket_t *socks, int idx, uint8_t *buf, size_t len,
                       const sfu_addr_t *from, sfu_lt_sender_t *senders, int nsenders,
                       sfu_lt_ctl_queue_t *ctl);

#endif
