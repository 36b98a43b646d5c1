/*
 * sfu_api.h - the API of the production extension sfu._native: the shared
 * rings, the forwarding loop, its commands, records and statistics.  cffi
 * sees it after sfu_types.h, sfu_packet.h and sfu_srtp.h (build_ext.py);
 * see sfu_types.h for the rules of these headers.  Python wraps it in
 * sfu/native.py.
 */
#ifndef SFU_API_H
#define SFU_API_H

#include "sfu_types.h"
#include "sfu_packet.h"
#include "sfu_srtp.h"
#include "sfu_bwe.h"

#define SFU_SLOT_DATA 1504      /* payload bytes in one shared-ring slot */

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
 * -errno-like SFU_E*).  Names and fields are those of the worker channel's
 * requests (sfu/worker/messages.py): `id` is the id of the object the
 * command creates, changes or closes; ssrc / payload_type are that
 * object's own (a consumer's outgoing SSRC and payload type). */
typedef enum {
    SFU_CMD_SOCKET_OPEN = 1,       /* id, fd, flags (SFU_SOCK_*): the loop owns the socket from now on;
                                      an ICE-TCP connection also takes data/data_len: the bytes the
                                      acceptor read from it already; a UDP socket with socket_id is
                                      the IPv6 twin of that (IPv4) one: its transports reach and
                                      hear IPv6 peers through it */
    SFU_CMD_SOCKET_CLOSE = 2,      /* id (closes its transports too) */
    SFU_CMD_TRANSPORT_CREATE = 3,  /* id, socket_id, flags (SFU_TF_*) */
    SFU_CMD_TRANSPORT_CONNECT = 4, /* id, addr, socket_id: send to addr (and accept from it), on
                                      socket_id (an ICE-TCP connection) or, 0, the transport's own */
    SFU_CMD_TRANSPORT_SET_SRTP = 5,   /* id, recv_srtp, send_srtp */
    SFU_CMD_TRANSPORT_CLOSE = 6,   /* id */
    SFU_CMD_PRODUCER_CREATE = 7,   /* id, transport_id, ssrc, payload_type, kind, codec, remote_workers,
                                      rtx_ssrc, rtx_payload_type */
    SFU_CMD_PRODUCER_CLOSE = 8,    /* id */
    SFU_CMD_PRODUCER_SET_REMOTE_WORKERS = 9, /* id, remote_workers */
    SFU_CMD_CONSUMER_CREATE = 10,  /* id, transport_id, producer_id, ssrc, payload_type, seq_start,
                                      ts_offset, paused, ext_rewrite, ext_map, rtx_ssrc, rtx_payload_type */
    SFU_CMD_CONSUMER_CLOSE = 11,   /* id */
    SFU_CMD_CONSUMER_SET_PAUSED = 12, /* id, paused (resuming a video consumer asks for a key frame) */
    SFU_CMD_REMOTE_PRODUCER_CREATE = 13, /* id, worker, ssrc, kind, codec: a producer living on
                                            another worker that local consumers use */
    SFU_CMD_REMOTE_PRODUCER_CLOSE = 14, /* id */
    SFU_CMD_PEER_RESET = 15,       /* worker: it restarted; drop what it had queued for us */
    SFU_CMD_CONSUMER_SET_PRODUCER = 16, /* id, producer_id: switch source (simulcast layer) */
    SFU_CMD_TRANSPORT_ADD_ADDR = 17, /* id, addr, socket_id: also accept packets from addr (another ICE
                                      pair), on socket_id as for TRANSPORT_CONNECT */
    SFU_CMD_TRANSPORT_SET_HEADER_EXTENSIONS = 18, /* id, header_extensions: ids of incoming media */
    SFU_CMD_CONSUMER_REQUEST_KEY_FRAME = 19, /* id: ask its (video) producer's publisher, throttled */
    SFU_CMD_PRODUCER_SET_RTX = 20, /* id, rtx_ssrc, rtx_payload_type: its publisher's RTX stream (a
                                      simulcast layer's, learnt from its repaired rid) */
    SFU_CMD_CONSUMER_SET_RTX = 21, /* id, rtx_ssrc, rtx_payload_type: resend as RTX on it (the
                                      subscriber's answer accepted rtx); rtx_ssrc 0 = plain copies */
    SFU_CMD_TRANSPORT_SET_ICE_UFRAG = 22, /* id, ice_ufrag, ice_ufrag_len: our ICE ufrag for it; a STUN
                                      request from an address no transport knows is passed on only
                                      when its USERNAME names one (RFC 8445 7.3), else dropped */
    SFU_CMD_TRANSPORT_SET_WANTED_BITRATE = 23, /* id, bitrate: what the stream allocator would send; the first
                                                 turns on pacing and probing (congestion control) */
    SFU_CMD_SOCKET_SEND = 24,      /* id, data, data_len: a control-plane packet (STUN, DTLS) on an ICE-TCP
                                      connection, framed there (UDP sockets: sfu_loop_send_raw) */
    SFU_CMD_CONSUMER_SET_RED = 25, /* id, red_payload_type: an audio consumer sends each packet as RED
                                      (RFC 2198) with the two before it (the subscriber's answer accepted
                                      red for its Opus); 0 = plain */
    SFU_CMD_CONSUMER_SET_LAYERS = 26 /* id, spatial_layer, temporal_layer: the highest layers of a scalable
                                      (SVC) stream it forwards; -1 = every layer (sfu_svc_selector_t) */
} sfu_cmd_type_t;

#define SFU_TF_SRTP 1              /* transport carries SRTP (WebRTC); else plain RTP */
#define SFU_TF_COMEDIA 2           /* learn the remote address from the first packet */
#define SFU_TF_TO_PY_ALL 4         /* hand every non-media packet to Python (WebRTC) */
#define SFU_TF_RTCP 8              /* send SR/RR, answer NACKs from the packet cache */

#define SFU_SOCK_UDP 0             /* SOCKET_OPEN: a UDP socket (shared by transports) */
#define SFU_SOCK_TCP 1             /* SOCKET_OPEN: one accepted ICE-TCP connection (RFC 6544, RFC 4571 framing) */
#define SFU_TCP_OPEN_DATA_MAX 4100 /* SOCKET_OPEN of a connection: the most bytes already read it takes */

/* the header extension ids (RFC 8285) a transport's remote side uses for
 * what the data plane reads in incoming media; 0 = not negotiated */
typedef struct {
    uint8_t transport_cc;          /* transport-wide-cc: feedback to the sender (1..14) */
    uint8_t mid;                   /* sdes:mid (RFC 8843) */
    uint8_t rid;                   /* sdes:rtp-stream-id (RFC 8852) */
    uint8_t repaired_rid;          /* sdes:repaired-rtp-stream-id (RFC 8852) */
    uint8_t abs_send_time;         /* not read yet */
    uint8_t audio_level;           /* RFC 6464: counted per audio producer (active speakers) */
    uint8_t dependency_descriptor; /* not read here: producers get theirs (PRODUCER_CREATE dd_ext_id) */
    uint8_t _pad;
} sfu_header_ext_ids_t;

#define SFU_ICE_UFRAG_MAX 64   /* ours are 4..32 characters (sfu.protocol.ice_lite.generate_ufrag) */

typedef struct {
    uint32_t type;             /* SFU_CMD_* */
    uint32_t id;
    uint32_t socket_id;
    uint32_t transport_id;
    uint32_t producer_id;
    uint32_t worker;           /* remote producer: its worker; peer reset: the restarted worker */
    uint32_t ssrc;
    uint32_t rtx_ssrc;         /* producer: its publisher's RTX stream; consumer: resend as RTX on it; 0 = none */
    uint32_t flags;            /* transport: SFU_TF_* */
    int32_t  fd;
    uint8_t  payload_type;
    uint8_t  kind;             /* SFU_KIND_* */
    uint8_t  codec;            /* producer: SFU_CODEC_*, for key frame detection */
    uint8_t  paused;           /* consumer */
    uint16_t seq_start;        /* consumer: output sequence number of its first packet */
    uint16_t _pad0;
    uint32_t ts_offset;        /* consumer: added to every RTP timestamp */
    uint8_t  ext_rewrite;      /* consumer: 1 = rewrite header extension ids with ext_map */
    uint8_t  ext_map[16];      /* consumer: incoming id (1..14) -> outgoing id, 0 = remove */
    sfu_header_ext_ids_t header_extensions;   /* transport */
    uint8_t  rtx_payload_type; /* producer, consumer: of the RTX stream */
    uint8_t  ice_ufrag_len;    /* transport: bytes of ice_ufrag */
    uint8_t  red_payload_type; /* consumer: RED on it (audio), 0 = plain */
    uint8_t  dd_ext_id;        /* producer: its publisher's dependency descriptor id (1..14), 0 = none */
    int8_t   spatial_layer;    /* consumer: CONSUMER_SET_LAYERS, -1 = every layer */
    int8_t   temporal_layer;
    uint8_t  _pad1;
    char     ice_ufrag[SFU_ICE_UFRAG_MAX];  /* transport: our ICE username fragment (not NUL-terminated) */
    uint64_t remote_workers;   /* producer: bitmask of the other workers with consumers of it */
    uint64_t bitrate;          /* transport: wanted bit/s */
    void    *recv_srtp;        /* transport: srtp_t decrypting what the remote sends */
    void    *send_srtp;        /* transport: srtp_t encrypting what we send */
    const uint8_t *data;       /* socket: bytes to send (SOCKET_SEND) or already read (SOCKET_OPEN, TCP) */
    uint32_t data_len;
    uint32_t _pad2;
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
#define SFU_REC_TRANSPORT_REMOTE_LEARNED 2 /* comedia: transport learned `from` */
#define SFU_REC_UNKNOWN_SSRC 3     /* RTP (decrypted) for an unmapped SSRC: arg = ssrc, data = sfu_unknown_ssrc_t */
#define SFU_REC_PRODUCER_INACTIVE 4 /* arg = producer id: nothing arrived for SFU_PRODUCER_INACTIVE_NS */
#define SFU_REC_PRODUCER_ACTIVE 5  /* arg = producer id: packets again after SFU_REC_PRODUCER_INACTIVE */
#define SFU_REC_TRANSPORT_BWE 6    /* data = sfu_bwe_stats_t: the transport's estimate moved (sfu_bwe.h) */
#define SFU_REC_TCP_CLOSED 7       /* socket_id: an ICE-TCP connection closed; transport_id: the transport it
                                      carried (0: none yet); from: its peer; arg: 1 peer closed, 2 error, 0 by us */

/* data of SFU_REC_UNKNOWN_SSRC: what the packet says about itself, read
 * with the transport's header extension ids; followed by mid_len bytes of
 * mid, rid_len of rid and repaired_rid_len of repaired rid */
typedef struct {
    uint32_t ssrc;
    uint8_t  payload_type;
    uint8_t  mid_len;
    uint8_t  rid_len;
    uint8_t  repaired_rid_len;
} sfu_unknown_ssrc_t;

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
    uint64_t plis_throttled;   /* subscribers' PLI/FIR not passed on (paused, switching, too often) */
    uint64_t nacks_sent;       /* sequence numbers asked of publishers (each retry counts) */
    uint64_t nack_recovered;   /* ... missing ones that arrived after all (retransmitted or late) */
    uint64_t nack_lost;        /* ... given up (too many retries, too old, too many missing) */
    uint64_t rtx_received;     /* publisher RTX packets unwrapped into their stream */
    uint64_t rtx_sent;         /* retransmits sent to subscribers as RTX (the rest are plain copies) */
    uint64_t nack_padding;     /* NACKed sequence numbers of padding (probes): nothing to resend */
    uint64_t padding_sent;     /* padding-only packets sent (probes) */
    uint64_t paced;            /* packets that waited in a transport's pacer */
    uint64_t plis_received;    /* PLIs from subscribers (passed on or throttled) */
    uint64_t firs_received;    /* FIRs from subscribers (passed on or throttled) */
    uint64_t plis_sent;        /* PLIs sent to publishers (after the per-producer throttle) */
    uint64_t tcp_opened;       /* ICE-TCP connections handed to the loop */
    uint64_t tcp_closed;       /* ... closed (peer, error, or their transport went) */
    uint64_t red_sent;         /* audio packets sent to subscribers as RED with earlier blocks */
    uint64_t red_recovered;    /* publisher packets that never arrived, rebuilt from a later RED packet */
    uint64_t svc_filtered;     /* packets of a scalable stream a consumer left out (layers above its selection) */
    uint64_t svc_switches;     /* changes of a consumer's forwarded spatial/temporal layers */
    uint64_t svc_bad_descriptors; /* dependency descriptors that did not parse (the packet goes on, layers unknown) */
    uint64_t drops[33];        /* indexed by sfu_drop_reason_t (SFU_DROP__COUNT) */
} sfu_stats_t;

void sfu_loop_get_stats(sfu_loop_t *loop, sfu_stats_t *out);

typedef struct {
    uint64_t packets;
    uint64_t bytes;
    uint64_t dropped;
    uint16_t last_seq;         /* last sequence number seen (producer) or sent (consumer) */
    uint32_t last_ts;
    uint64_t expected;         /* local producer: packets expected from its sequence numbers (RFC 3550 A.3) */
    uint64_t received;         /* ... and received of them (the difference is the uplink's loss) */
    uint64_t layer_bytes[16];  /* producer of a scalable stream: bytes per layer, [spatial * SFU_SVC_TEMPORAL_MAX
                                  + temporal] (a packet without a temporal id counts as temporal 0) */
    int8_t   spatial;          /* consumer of one: the layers it forwards now (SFU_SVC_ALL = 127: every one) */
    int8_t   temporal;
} sfu_stream_stats_t;
#define SFU_SVC_SPATIAL_MAX 4
#define SFU_SVC_TEMPORAL_MAX 4

int sfu_loop_producer_stats(sfu_loop_t *loop, uint32_t id, sfu_stream_stats_t *out);

/* the RFC 6464 audio levels a local audio producer received, counted since it
 * was created (active speaker detection compares two reads); SFU_ENOENT */
#define SFU_AUDIO_LOUD_DBOV 35         /* a packet at or above -35 dBov is "loud" */
typedef struct {
    uint64_t packets;                  /* packets that carried a level */
    uint64_t loud;                     /* of those, at most SFU_AUDIO_LOUD_DBOV -dBov */
    uint64_t loud_dbov_sum;            /* the loud packets' -dBov, summed */
} sfu_audio_level_stats_t;
int sfu_loop_producer_audio_level(sfu_loop_t *loop, uint32_t id, sfu_audio_level_stats_t *out);
int sfu_loop_consumer_stats(sfu_loop_t *loop, uint32_t id, sfu_stream_stats_t *out);
/* the send-side estimate of a transport as of the loop's last 100 ms tick
 * (all zero before it sent a numbered packet or got a REMB) and how many
 * packets the transport-wide sequence number did not fit in; SFU_ENOENT */
int sfu_loop_transport_bwe_stats(sfu_loop_t *loop, uint32_t id, sfu_bwe_stats_t *out, uint64_t *unstamped);

#endif
