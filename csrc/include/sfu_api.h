/*
 * sfu_api.h - the only header cffi sees (build_ext.py feeds it to ffi.cdef
 * after dropping preprocessor lines other than integer #defines).
 *
 * Rules for this file:
 *   - plain C declarations only: fixed-width types, enums with explicit
 *     values, structs, prototypes, `#define NAME <integer>`;
 *   - names here are the names used on the Python side (sfu/native.py), one
 *     name per concept on both sides of the boundary.
 */
#ifndef SFU_API_H
#define SFU_API_H

#include <stdint.h>
#include <stddef.h>

#define SFU_MAX_WORKERS 64
#define SFU_MTU 1500            /* largest datagram the data plane accepts */
#define SFU_SRTP_TRAILER_MAX 148 /* room left after a packet for the SRTP/SRTCP tag */
#define SFU_SLOT_DATA 1504      /* payload bytes in one shared-ring slot */

/* ------------------------------------------------------------------ */
/* Drop reasons: every packet the data plane does not forward is counted
 * under exactly one of these.  sfu_drop_reason_name() gives the text.  */
typedef enum {
    SFU_DROP_NONE = 0,
    SFU_DROP_TOO_SHORT = 1,        /* shorter than the smallest valid header */
    SFU_DROP_TOO_LONG = 2,         /* larger than SFU_MTU */
    SFU_DROP_UNKNOWN_CLASS = 3,    /* first byte is none of STUN/DTLS/RTP/RTCP */
    SFU_DROP_BAD_VERSION = 4,      /* RTP/RTCP version != 2 */
    SFU_DROP_BAD_CSRC = 5,         /* CSRC list runs past the end */
    SFU_DROP_BAD_EXTENSION = 6,    /* header extension runs past the end */
    SFU_DROP_BAD_PADDING = 7,      /* padding length 0 or larger than payload */
    SFU_DROP_BAD_RTCP = 8,         /* RTCP compound packet malformed */
    SFU_DROP_BAD_STUN = 9,         /* STUN header/attributes malformed */
    SFU_DROP_UNKNOWN_SOURCE = 10,  /* non-STUN datagram from an address no transport owns */
    SFU_DROP_UNKNOWN_SSRC = 11,    /* RTP for an SSRC no producer owns */
    SFU_DROP_SRTP_UNPROTECT = 12,  /* SRTP/SRTCP authentication or replay failure */
    SFU_DROP_SRTP_PROTECT = 13,    /* SRTP protect failed for a consumer */
    SFU_DROP_NO_SRTP = 14,         /* media on a secure transport before keys were set */
    SFU_DROP_NO_REMOTE = 15,       /* consumer's transport has no remote address yet */
    SFU_DROP_CONSUMER_PAUSED = 16, /* consumer paused: packet skipped for it */
    SFU_DROP_TO_PY_FULL = 17,      /* loop -> Python queue full */
    SFU_DROP_RING_FULL = 18,       /* shared ring to another worker full */
    SFU_DROP_RING_LAPPED = 19,     /* ring slot overwritten before it was read */
    SFU_DROP_RING_BAD_SLOT = 20,   /* ring slot failed validation */
    SFU_DROP_RING_UNKNOWN_PRODUCER = 21, /* ring packet for a producer this worker does not know */
    SFU_DROP_SEND_FAILED = 22,     /* sendmmsg error for this datagram */
    SFU_DROP_TRANSPORT_CLOSED = 23,/* packet for a transport being removed */
    SFU_DROP__COUNT = 24
} sfu_drop_reason_t;

const char *sfu_drop_reason_name(int reason);

/* ------------------------------------------------------------------ */
/* First-byte demultiplexing (RFC 7983, RFC 5761).                      */
typedef enum {
    SFU_PKT_UNKNOWN = 0,
    SFU_PKT_STUN = 1,
    SFU_PKT_DTLS = 2,
    SFU_PKT_RTP = 3,
    SFU_PKT_RTCP = 4
} sfu_pkt_class_t;

int sfu_demux(const uint8_t *buf, size_t len);

/* ------------------------------------------------------------------ */
/* RTP header parse.  All offsets are from the start of the packet.     */
typedef struct {
    uint8_t  marker;
    uint8_t  payload_type;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint8_t  csrc_count;
    uint8_t  has_extension;
    uint16_t ext_profile;      /* 0xBEDE one-byte, 0x100x two-byte */
    uint16_t ext_offset;       /* offset of the extension body (after the 4-byte ext header) */
    uint16_t ext_len;          /* body length in bytes */
    uint16_t header_len;       /* offset of the payload */
    uint16_t payload_len;      /* excludes padding */
    uint8_t  pad_len;
} sfu_rtp_t;

/* returns SFU_DROP_NONE (0) or the drop reason */
int sfu_rtp_parse(const uint8_t *buf, size_t len, sfu_rtp_t *out);
/* 1 when the packet starts a key frame of `codec` (SFU_CODEC_*), 0 when not,
 * -1 when the codec is not understood */
int sfu_rtp_is_keyframe(const uint8_t *buf, const sfu_rtp_t *rtp, int codec);
/* find header extension `id` (one-byte or two-byte form); returns value
 * length (>= 0) and sets *val_off, or -1 when absent/malformed */
int sfu_rtp_find_ext(const uint8_t *buf, const sfu_rtp_t *rtp, int id, uint16_t *val_off);

/* ------------------------------------------------------------------ */
/* RTCP compound walker.                                                */
typedef struct {
    uint8_t  count;            /* RC / FMT field */
    uint8_t  pt;
    uint16_t len;              /* length of this packet in bytes, header included */
    uint32_t sender_ssrc;
    uint32_t media_ssrc;       /* feedback packets: media source; SR/RR: 0 */
    uint16_t offset;           /* offset of this packet in the compound */
} sfu_rtcp_t;

/* walk: *off starts at 0; returns 1 and fills *out for each packet, 0 at
 * the clean end, or -SFU_DROP_BAD_RTCP on malformed input */
int sfu_rtcp_next(const uint8_t *buf, size_t len, size_t *off, sfu_rtcp_t *out);
/* checks a whole compound packet; SFU_DROP_NONE or SFU_DROP_BAD_RTCP */
int sfu_rtcp_validate(const uint8_t *buf, size_t len);
/* Generic NACK (RTPFB fmt 1): expand the FCI pairs into lost sequence
 * numbers; returns how many were written (<= cap) or -SFU_DROP_BAD_RTCP */
int sfu_rtcp_nack_seqs(const uint8_t *buf, const sfu_rtcp_t *pkt, uint16_t *seqs, int cap);

/* ------------------------------------------------------------------ */
/* STUN header check (RFC 5389): magic cookie, length, attribute TLVs.  */
/* returns SFU_DROP_NONE or SFU_DROP_BAD_STUN; on success sets *username
 * offset/len (len 0 when absent) */
int sfu_stun_check(const uint8_t *buf, size_t len, uint16_t *username_off, uint16_t *username_len);

/* ------------------------------------------------------------------ */
/* SRTP through the pylibsrtp wheel's libsrtp (OpenSSL build).  Python
 * creates the srtp_t sessions with the wheel's own cffi binding and hands
 * the function pointers over once per process (sfu/srtp.py).          */
int sfu_srtp_bind(uintptr_t protect, uintptr_t unprotect,
                  uintptr_t protect_rtcp, uintptr_t unprotect_rtcp);
int sfu_srtp_bound(void);
/* in place; *len is updated; buf must have SFU_SRTP_TRAILER_MAX spare bytes
 * after *len for protect.  Return libsrtp's srtp_err_status_t (0 = ok). */
int sfu_srtp_protect(void *session, uint8_t *buf, int *len);
int sfu_srtp_unprotect(void *session, uint8_t *buf, int *len);
int sfu_srtp_protect_rtcp(void *session, uint8_t *buf, int *len);
int sfu_srtp_unprotect_rtcp(void *session, uint8_t *buf, int *len);

/* ------------------------------------------------------------------ */
/* Addresses as the loop and Python exchange them.                      */
typedef struct {
    uint16_t family;           /* AF_INET or AF_INET6 */
    uint16_t port;             /* host byte order */
    uint32_t scope_id;
    uint8_t  ip[16];           /* IPv4: first 4 bytes, network order */
} sfu_addr_t;

/* ------------------------------------------------------------------ */
/* Shared-memory SPSC ring between two workers.                         */
typedef struct sfu_ring sfu_ring_t;

/* bytes a ring of `slots` slots (power of two) needs */
uint64_t sfu_ring_bytes(uint32_t slots);
/* lay out a fresh ring in `mem` (zeroes it); returns NULL on bad args */
sfu_ring_t *sfu_ring_init(void *mem, uint32_t slots);
/* attach to an initialised ring; NULL when the header does not validate */
sfu_ring_t *sfu_ring_attach(void *mem, uint32_t slots);

typedef struct {
    uint32_t kind;             /* SFU_RING_RTP, SFU_RING_RTCP_TO_PRODUCER */
    uint32_t producer_id;
    uint64_t ts_ns;
    uint16_t len;
} sfu_ring_msg_t;

#define SFU_RING_RTP 1
#define SFU_RING_RTCP_TO_PRODUCER 2

/* producer side: write one message (not yet visible); 0 or SFU_DROP_RING_FULL */
int sfu_ring_put(sfu_ring_t *r, const sfu_ring_msg_t *m, const uint8_t *data);
/* producer side: make everything written so far visible; returns 1 when
 * the consumer asked to be woken */
int sfu_ring_publish(sfu_ring_t *r);
/* consumer side: read next message into *m / data (cap >= SFU_SLOT_DATA).
 * Returns 1 got one, 0 empty, or -reason (RING_LAPPED / RING_BAD_SLOT)
 * for a slot that did not validate (it is skipped). */
int sfu_ring_get(sfu_ring_t *r, sfu_ring_msg_t *m, uint8_t *data, size_t cap);
/* consumer side: publish the read position (batched) */
void sfu_ring_release(sfu_ring_t *r);
/* consumer side: declare intent to sleep; returns 0 if the ring is empty
 * (safe to sleep), 1 if data arrived meanwhile (do not sleep) */
int sfu_ring_prepare_sleep(sfu_ring_t *r);
void sfu_ring_cancel_sleep(sfu_ring_t *r);
/* consumer side after a restart: drop whatever is queued */
void sfu_ring_reset_reader(sfu_ring_t *r);
/* producer side after a restart: forget unpublished writes */
void sfu_ring_resume_writer(sfu_ring_t *r);
uint64_t sfu_ring_pending(sfu_ring_t *r);

/* ------------------------------------------------------------------ */
/* The forwarding loop of one media worker.                              */
typedef struct sfu_loop sfu_loop_t;

typedef struct {
    uint32_t worker_id;        /* 0 .. n_workers-1 */
    uint32_t n_workers;
    void    *shm_base;         /* all n*(n-1) rings, laid out by sfu_shm_ring_offset() */
    uint64_t shm_size;
    uint32_t ring_slots;
    int      wake_fds[64];     /* eventfd per worker; written to wake that worker */
    uint32_t to_py_bytes;      /* capacity of the loop -> Python queue */
    uint32_t rx_batch;         /* recvmmsg batch (<= 64) */
} sfu_loop_config_t;

uint64_t sfu_shm_ring_offset(uint32_t n_workers, uint32_t ring_slots, uint32_t from, uint32_t to);
uint64_t sfu_shm_bytes(uint32_t n_workers, uint32_t ring_slots);

sfu_loop_t *sfu_loop_new(const sfu_loop_config_t *cfg);
void sfu_loop_free(sfu_loop_t *loop);
/* run until sfu_loop_stop(); call from a thread of its own (cffi drops the
 * GIL around the call).  Returns 0 on a clean stop. */
int sfu_loop_run(sfu_loop_t *loop);
void sfu_loop_stop(sfu_loop_t *loop);

/* Control: commands are applied by the loop thread between batches; the
 * call blocks until applied and returns the command's result (0 or
 * -errno-like SFU_E*). */
typedef enum {
    SFU_CMD_SOCKET_ADD = 1,        /* id=socket id, fd */
    SFU_CMD_SOCKET_DEL = 2,        /* id */
    SFU_CMD_TRANSPORT_ADD = 3,     /* id, socket_id, flags (SFU_TF_*) */
    SFU_CMD_TRANSPORT_SET_REMOTE = 4, /* id, addr */
    SFU_CMD_TRANSPORT_SET_SRTP = 5,   /* id, srtp_in, srtp_out */
    SFU_CMD_TRANSPORT_DEL = 6,     /* id */
    SFU_CMD_PRODUCER_ADD = 7,      /* id, transport_id, ssrc, payload_type, kind */
    SFU_CMD_PRODUCER_DEL = 8,      /* id */
    SFU_CMD_PRODUCER_SET_REMOTES = 9, /* id, remote_mask: workers that have consumers */
    SFU_CMD_CONSUMER_ADD = 10,     /* id, transport_id, producer_id, out_ssrc, out_payload_type, seq_start */
    SFU_CMD_CONSUMER_DEL = 11,     /* id */
    SFU_CMD_CONSUMER_SET_PAUSED = 12, /* id, flags bit0 */
    SFU_CMD_REMOTE_PRODUCER_ADD = 13, /* id: a producer living on worker `peer` that local consumers use */
    SFU_CMD_REMOTE_PRODUCER_DEL = 14, /* id */
    SFU_CMD_PEER_RESET = 15,       /* peer: worker restarted; reset rings with it */
    SFU_CMD_CONSUMER_SET_PRODUCER = 16, /* id, producer_id: switch source (simulcast layer) */
    SFU_CMD_TRANSPORT_ADD_ADDR = 17, /* id, addr: also accept packets from addr (another ICE pair) */
    SFU_CMD_TRANSPORT_SET_TWCC = 18 /* id, ext_id: send transport-cc feedback for this extension */
} sfu_cmd_type_t;

#define SFU_TF_SRTP 1              /* transport carries SRTP (WebRTC); else plain RTP */
#define SFU_TF_COMEDIA 2           /* learn the remote address from the first packet */
#define SFU_TF_TO_PY_ALL 4         /* hand every non-media packet to Python (WebRTC) */
#define SFU_TF_RTCP 8              /* send SR/RR, answer NACKs from the packet cache */

#define SFU_KIND_AUDIO 0
#define SFU_KIND_VIDEO 1

#define SFU_CODEC_OTHER 0
#define SFU_CODEC_VP8 1
#define SFU_CODEC_VP9 2
#define SFU_CODEC_H264 3
#define SFU_CODEC_AV1 4

#define SFU_OK 0
#define SFU_EEXIST -1
#define SFU_ENOENT -2
#define SFU_EINVAL -3
#define SFU_ENOMEM -4
#define SFU_ESTOPPED -5

typedef struct {
    uint32_t type;
    uint32_t id;
    uint32_t socket_id;
    uint32_t transport_id;
    uint32_t producer_id;
    uint32_t peer;
    uint32_t ssrc;
    uint32_t out_ssrc;
    uint32_t flags;
    int32_t  fd;
    uint8_t  payload_type;
    uint8_t  out_payload_type;
    uint8_t  kind;
    uint8_t  codec;            /* producer: SFU_CODEC_*, for key frame detection */
    uint16_t seq_start;
    uint16_t _pad2;
    uint32_t ts_offset;        /* consumer: added to every RTP timestamp */
    uint8_t  ext_rewrite;      /* consumer: 1 = rewrite header extension ids with ext_map */
    uint8_t  ext_map[16];      /* consumer: incoming id (1..14) -> outgoing id, 0 = remove */
    uint8_t  ext_id;           /* transport: transport-wide-cc extension id (0 = none) */
    uint8_t  _pad3[2];
    uint64_t remote_mask;
    void    *srtp_in;
    void    *srtp_out;
    sfu_addr_t addr;
} sfu_cmd_t;

int sfu_loop_command(sfu_loop_t *loop, const sfu_cmd_t *cmd);

/* Loop -> Python queue: STUN/DTLS datagrams and events, drained in
 * batches; the loop writes the eventfd only when Python is waiting. */
typedef struct {
    uint32_t kind;             /* SFU_REC_* */
    uint32_t len;              /* bytes of data following the record */
    uint32_t socket_id;
    uint32_t transport_id;     /* 0 when the source is unknown */
    uint32_t pkt_class;        /* SFU_PKT_* for SFU_REC_PACKET */
    uint32_t arg;              /* event argument */
    uint64_t ts_ns;
    sfu_addr_t from;
} sfu_py_rec_t;

#define SFU_REC_PACKET 1           /* a datagram for the control plane */
#define SFU_REC_REMOTE_LEARNED 2   /* comedia: transport learned `from` */
#define SFU_REC_UNKNOWN_SSRC 3     /* RTP (decrypted) for an unmapped SSRC, arg = ssrc */

int sfu_loop_py_fd(sfu_loop_t *loop);
/* copy whole records (header + data, each padded to 8 bytes) into out;
 * returns bytes written (0 when empty) */
int64_t sfu_loop_py_drain(sfu_loop_t *loop, uint8_t *out, size_t cap);
/* re-arm: returns 1 if records arrived meanwhile (drain again) */
int sfu_loop_py_arm(sfu_loop_t *loop);

/* send a control-plane datagram (STUN, DTLS) from Python; thread-safe */
int sfu_loop_send_raw(sfu_loop_t *loop, uint32_t socket_id, const sfu_addr_t *to,
                      const uint8_t *buf, size_t len);

typedef struct {
    uint64_t rx_packets;
    uint64_t rx_bytes;
    uint64_t rx_batches;
    uint64_t tx_packets;
    uint64_t tx_bytes;
    uint64_t tx_batches;
    uint64_t ring_tx;          /* messages put on rings to other workers */
    uint64_t ring_rx;          /* messages read from rings */
    uint64_t to_py;            /* records queued for Python */
    uint64_t wakeups;          /* eventfd writes this loop made to others */
    uint64_t iterations;
    uint64_t commands;
    uint64_t nacks;            /* sequence numbers subscribers asked for again */
    uint64_t retransmits;      /* ... resent from the packet cache */
    uint64_t nack_misses;      /* ... no longer cached, or resent too often */
    uint64_t rtcp_sent;        /* SR, RR and PLI packets the loop generated */
    uint64_t tx_gso;           /* datagrams that left in multi-datagram UDP_SEGMENT sends */
    uint64_t drops[24];        /* indexed by sfu_drop_reason_t */
} sfu_stats_t;

void sfu_loop_get_stats(sfu_loop_t *loop, sfu_stats_t *out);

typedef struct {
    uint64_t packets;
    uint64_t bytes;
    uint64_t dropped;
    uint16_t last_seq;         /* last sequence number seen (producer) or sent (consumer) */
    uint32_t last_ts;
} sfu_stream_stats_t;

int sfu_loop_producer_stats(sfu_loop_t *loop, uint32_t id, sfu_stream_stats_t *out);
int sfu_loop_consumer_stats(sfu_loop_t *loop, uint32_t id, sfu_stream_stats_t *out);

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
    uint8_t  codec;                /* video: SFU_CODEC_VP8; audio: SFU_CODEC_OTHER */
    uint8_t  mid_ext_id;           /* one-byte extension ids 1..14, 0 = not sent */
    uint8_t  rid_ext_id;
    uint8_t  mid_len;
    uint8_t  rid_len;
    uint8_t  _pad0;
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
    uint16_t _pad1;
} sfu_lt_sender_t;

typedef struct {
    uint32_t ssrc;
    uint8_t  pt;
    uint8_t  _pad[3];
    uint32_t clock_rate;
    uint32_t first_ts;
    uint64_t packets;              /* unique packets (duplicates excluded) */
    uint64_t bytes;                /* RTP payload bytes (padding excluded) */
    uint64_t duplicates;
    uint64_t frames;               /* marker bits */
    uint64_t keyframes;            /* VP8 key frame starts */
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
