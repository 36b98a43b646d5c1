/* rtc.h - the loop's media objects (sockets, transports, producers,
 * consumers) and the driver functions between them.  The drivers own the
 * decision units' state (sfu_units.h), read the clock, and queue what the
 * units decide into the loop's batches (loop/loop_internal.h). */
#ifndef SFU_RTC_H
#define SFU_RTC_H
#include <sys/socket.h>
#include "sfu_api.h"
#include "sfu_units.h"
#include "sfu_bwe.h"

#define MAX_RX_ADDRS 8             /* addresses a transport accepts packets from */
#define SFU_SSRC 1                 /* sender SSRC of the SFU's own RTCP */
#define PENDING_MAX 256            /* packets fanned out together (one receive or ring batch) */

struct consumer;
struct tx_entry;                   /* loop/udp_io.h */

struct tcp_conn;                   /* loop/tcp_conn.h */

struct sock {
    uint32_t id;
    int fd;
    uint8_t kind;                  /* SFU_SOCK_UDP or SFU_SOCK_TCP */
    struct transport *comedia;     /* transport learning its remote on this socket */
    struct tcp_conn *tcp;          /* SFU_SOCK_TCP: the connection's framing and peer */
    struct sock *v6;               /* UDP: its IPv6 twin on the same port (IPv6 peers of its transports) */
};

struct transport {
    uint32_t id;
    uint32_t flags;                /* SFU_TF_* */
    struct sock *sock;             /* its own (UDP) socket */
    struct sock *send_sock;        /* where `remote` is reached: sock, or an ICE-TCP connection */
    int has_remote;
    sfu_addr_t remote;
    struct sockaddr_storage remote_sa;
    socklen_t remote_salen;
    /* every address this transport receives from (ICE may validate several
     * candidate pairs; media may arrive on any of them); [0] is the oldest */
    sfu_addr_t rx_addr[MAX_RX_ADDRS];
    struct sock *rx_sock[MAX_RX_ADDRS];   /* the socket each arrives on */
    uint64_t rx_key[MAX_RX_ADDRS];
    uint32_t n_rx;
    void *recv_srtp;
    void *send_srtp;
    struct producer **producers;   /* producers fed by this transport (by ssrc) */
    uint32_t n_producers, cap_producers;
    struct consumer **consumers;   /* consumers sending on this transport */
    uint32_t n_consumers, cap_consumers;
    uint32_t last_unknown_ssrc;
    uint64_t last_unknown_ns;
    sfu_header_ext_ids_t ext_ids;  /* header extension ids of incoming media */
    sfu_tcc_server_t *tcc;         /* transport-cc feedback state (publishers that use it) */
    /* send-side bandwidth estimation (subscribers): allocated with the first
     * packet stamped or REMB received; the stats snapshot is written by the
     * loop thread and read by Python, both under the loop's mutex */
    sfu_send_side_bwe_t *bwe;
    sfu_bwe_stats_t bwe_snapshot;
    uint64_t bwe_unstamped;        /* packets the sequence number did not fit in */
    char ice_ufrag[SFU_ICE_UFRAG_MAX];   /* our ICE ufrag for it (rtc/ice_ufrag_map.c) */
    uint8_t ice_ufrag_len;               /* 0: none (a plain transport) */
    /* congestion control (transport_pacing.c): the pacer and the probes,
     * from the stream allocator's first wanted bitrate on */
    struct transport_cc *cc;
};

struct producer {
    uint32_t id;
    uint32_t worker;               /* owning worker (remote producers) */
    struct transport *t;           /* NULL for a producer living on another worker */
    uint32_t ssrc;
    uint8_t payload_type;
    uint8_t kind;
    uint8_t codec;                 /* SFU_CODEC_*: key frame detection for layer switches */
    uint64_t remote_workers;       /* bitmask: other workers with consumers of it */
    struct consumer **consumers;
    uint32_t n_consumers, cap_consumers;
    sfu_keyframe_request_t keyframe_request;
    sfu_rtp_stream_recv_t recv;    /* for receiver reports (local producers) */
    sfu_packet_cache_t cache;      /* answers NACKs of its consumers (allocated on demand) */
    sfu_producer_activity_t activity;   /* local producers */
    uint32_t rtx_ssrc;             /* its publisher's RTX stream (RFC 4588), 0 = none */
    uint8_t rtx_payload_type;
    uint8_t red_payload_type;      /* its publisher sends RED (RFC 2198) on it: unwrapped here, 0 = none */
    sfu_nack_generator_t *nack;    /* local video producers on RTCP transports */
    sfu_stream_stats_t stats;
    sfu_audio_level_stats_t audio_level;  /* local audio producers */
    uint8_t dd_ext_id;             /* VP9/AV1: the publisher's dependency descriptor id, 0 = none */
    sfu_dd_structure_t dd;         /* ... its latest template structure (producer_layers.c) */
};

struct consumer {
    uint32_t id;
    struct transport *t;
    struct producer *p;
    struct producer *target;       /* switching to this producer at its next key frame */
    uint32_t ssrc;
    uint8_t payload_type;
    uint8_t paused;
    uint8_t ext_rewrite;
    uint8_t ext_map[16];           /* publisher's extension id -> subscriber's, 0 = remove */
    uint8_t receiver_reported;     /* a report block of the subscriber named its SSRC: it knows the stream */
    sfu_seq_manager_t seq;
    sfu_subscriber_pli_t pli;      /* how often its subscriber's PLI/FIR are passed on */
    uint32_t sr_packets;           /* packets counted at the last SR */
    sfu_send_history_t *history;   /* out seq -> source packet, for NACKs (RTCP transports) */
    uint32_t rtx_ssrc;             /* resends go out as RTX on it (the subscriber negotiated rtx), 0 = copies */
    uint8_t rtx_payload_type;
    uint16_t rtx_seq;              /* the RTX stream's own sequence numbers */
    uint8_t red_payload_type;      /* audio sent as RED on it (the subscriber negotiated red), 0 = plain */
    uint8_t red_restart;           /* the next packet starts what earlier blocks may come from */
    uint16_t red_from_seq;         /* source seq of the first packet since RED began or resumed */
    sfu_svc_selector_t svc;        /* the layers of a scalable stream it forwards */
    sfu_stream_stats_t stats;
};

/* packets of one receive or ring batch, fanned out consumer by consumer so
 * that each consumer's datagrams are consecutive (and leave as one GSO send) */
typedef struct {
    struct pending {
        struct producer *p;
        const uint8_t *pkt;
        uint32_t len;
        sfu_rtp_t rtp;
    } pend[PENDING_MAX];
    uint32_t n;
} sfu_fanout_t;

/* transport.c */
void transport_route_datagram(sfu_loop_t *l, struct sock *s, uint8_t *buf, uint32_t len,
                              const struct sockaddr_storage *from);
struct producer *transport_producer(struct transport *t, uint32_t ssrc);
struct producer *transport_rtx_producer(struct transport *t, uint32_t rtx_ssrc);
struct consumer *transport_consumer(struct transport *t, uint32_t ssrc);
int transport_create(sfu_loop_t *l, struct sock *s, const sfu_cmd_t *c);
int transport_connect(sfu_loop_t *l, struct transport *t, struct sock *s, const sfu_addr_t *a);
int transport_add_addr(sfu_loop_t *l, struct transport *t, struct sock *s, const sfu_addr_t *a);
/* the ICE-TCP connection s closed: the transport forgets its address on it */
void transport_forget_sock(sfu_loop_t *l, struct transport *t, struct sock *s);
/* queue a packet built (and protected) in e->buf to the transport's remote */
void transport_queue(sfu_loop_t *l, struct transport *t, struct tx_entry *e, uint32_t len);
int transport_set_srtp(sfu_loop_t *l, struct transport *t, void *recv_srtp, void *send_srtp);
int transport_set_header_extensions(struct transport *t, const sfu_header_ext_ids_t *ids);
void transport_free(sfu_loop_t *l, struct transport *t);
int sock_open(sfu_loop_t *l, const sfu_cmd_t *c);
void sock_close(sfu_loop_t *l, struct sock *s);

/* ice_ufrag_map.c */
int transport_set_ice_ufrag(sfu_loop_t *l, struct transport *t, const char *ufrag, size_t len);
void transport_forget_ice_ufrag(sfu_loop_t *l, struct transport *t);
struct transport *transport_by_stun_username(sfu_loop_t *l, const uint8_t *username, size_t len);

/* transport_rtcp.c */
void transport_on_rtcp(sfu_loop_t *l, struct transport *t, uint8_t *buf, uint32_t len);
void transport_send_rtcp(sfu_loop_t *l, struct transport *t, struct tx_entry *e, uint32_t len);
void transport_rtcp_send_reports(sfu_loop_t *l, uint64_t now);
void transport_rtcp_send_tcc_feedback(sfu_loop_t *l);

/* transport_bwe.c */
sfu_send_side_bwe_t *transport_bwe(struct transport *t);
int transport_bwe_stamp(struct transport *t, uint8_t *pkt, uint32_t *len, const sfu_rtp_t *rtp);
void transport_bwe_sent(struct transport *t, uint32_t wire_len, uint8_t flags, int16_t cluster, uint64_t now_ns);
void transport_bwe_on_feedback(struct transport *t, const uint8_t *pkt, uint32_t len, uint64_t now_ns);
void transport_bwe_on_remb(struct transport *t, const uint8_t *buf, const sfu_rtcp_t *pkt, uint64_t now_ns);
void transport_bwe_report(sfu_loop_t *l, uint64_t now_ns);

/* transport_pacing.c */
int transport_set_wanted_bitrate(sfu_loop_t *l, struct transport *t, uint64_t bps);
int transport_send_rtp(sfu_loop_t *l, struct transport *t, struct tx_entry *e, uint32_t len, const sfu_rtp_t *rtp,
                       uint8_t pace_class, uint8_t tcc_flags, uint64_t now_ns);
void transport_pace(sfu_loop_t *l, uint64_t now_ns);
void transport_pacing_on_feedback(struct transport *t, const sfu_tcc_packet_result_t *results, uint32_t n,
                                  uint64_t now_ns);
void transport_pacing_stats(const struct transport *t, int64_t now_us, sfu_bwe_stats_t *out);
int transport_pacing_starting(const struct transport *t, int64_t now_us);
int transport_pacing_probing(const struct transport *t);
void transport_pacing_estimate_changed(struct transport *t, uint64_t now_ns);
void transport_pacing_free(sfu_loop_t *l, struct transport *t);

/* producer.c */
/* count a local audio producer's packet's RFC 6464 level (extension `id`) */
void producer_observe_audio_level(struct producer *p, const uint8_t *buf, const sfu_rtp_t *rtp, int id);
void producer_on_rtp(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp);
void producer_forward(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp,
                      uint64_t now);
void producer_on_ring_message(void *loop, const sfu_ring_msg_t *m, const uint8_t *data);
void fanout_flush(void *loop);
void producer_keyframe_needed(sfu_loop_t *l, struct producer *p);
void producers_send_held_requests(sfu_loop_t *l, uint64_t now);
int producer_want_cache(struct producer *p);
int producer_create(sfu_loop_t *l, struct transport *t, const sfu_cmd_t *c);
int remote_producer_create(sfu_loop_t *l, const sfu_cmd_t *c);
void producer_set_remote_workers(sfu_loop_t *l, struct producer *p, uint64_t workers);
void producer_free(sfu_loop_t *l, struct producer *p);
void producers_check_activity(sfu_loop_t *l, uint64_t now);

/* producer_layers.c */
/* where a packet of p sits in its scalable stream (rtp->layers), from its dependency
 * descriptor or VP9 payload descriptor; counted per spatial layer */
void producer_read_layers(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, sfu_rtp_t *rtp);

/* producer_recovery.c */
int producer_recovery_init(struct producer *p);
void producer_recovery_free(struct producer *p);
int producer_set_rtx(struct producer *p, uint32_t rtx_ssrc, uint8_t rtx_payload_type);
void producer_recovery_on_media(sfu_loop_t *l, struct producer *p, uint16_t seq, uint64_t now);
void producer_on_rtx(sfu_loop_t *l, struct producer *p, uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp);
/* a RED packet of p's publisher: its primary forwarded as plain Opus, after the packets its
 * earlier blocks carry that never arrived (uplink loss repaired without a round trip) */
void producer_on_red(sfu_loop_t *l, struct producer *p, uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp);
int producer_set_red(struct producer *p, uint8_t red_payload_type);
void producers_send_nacks(sfu_loop_t *l, uint64_t now);

/* consumer.c */
void consumer_on_packet(sfu_loop_t *l, struct consumer *c, struct producer *p, const uint8_t *pkt, uint32_t len,
                        const sfu_rtp_t *rtp);
void consumer_resend(sfu_loop_t *l, struct consumer *c, uint16_t out_seq, uint64_t now);
void consumer_switch(struct consumer *c, struct producer *np);
int consumer_create(sfu_loop_t *l, struct transport *t, struct producer *p, const sfu_cmd_t *c);
void consumer_set_paused(sfu_loop_t *l, struct consumer *c, int paused);
int consumer_set_producer(sfu_loop_t *l, struct consumer *c, struct producer *np);
void consumer_request_key_frame(sfu_loop_t *l, struct consumer *c);
void consumer_set_rtx(struct consumer *c, uint32_t rtx_ssrc, uint8_t rtx_payload_type);
int consumer_set_red(struct consumer *c, uint8_t red_payload_type);
/* the highest spatial and temporal layers of a scalable stream it forwards (-1: every one) */
int consumer_set_layers(struct consumer *c, int spatial, int temporal);
int consumer_can_pad(const struct consumer *c);
uint32_t consumer_build_padding(struct consumer *c, uint8_t *buf, uint32_t pad_len);
void consumer_free(sfu_loop_t *l, struct consumer *c);
#endif
