/* transport.c - transports and the sockets they share: which transport a
 * datagram belongs to (the address map, comedia learning), incoming RTP
 * (decrypt once, transport-cc register, unknown SSRCs, hand-off to the
 * producer) and the lifecycle commands. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "util/sfu_common.h"
#include "util/addr.h"
#include "util/ptr_array.h"
#include "loop/loop_internal.h"

#define UNKNOWN_SSRC_REPEAT_NS 1000000000ull  /* an unknown SSRC is reported again after this */

/* ------------------------------------------------------------------ */
/* address map */

/* (socket, address) -> key; a hit is confirmed with transport_has_addr (a collision only costs
 * a drop); never UINT64_MAX, which the map reserves */
static uint64_t addr_key(uint32_t socket_id, const sfu_addr_t *a)
{
    uint64_t k;
    if (a->family == AF_INET6) {
        k = 0xcbf29ce484222325ull;
        for (int i = 0; i < 16; i++)
            k = (k ^ a->ip[i]) * 0x100000001b3ull;
        k = (k ^ a->port) * 0x100000001b3ull;
        k |= 1ull << 63;
    } else {
        k = ((uint64_t)sfu_rd32(a->ip) << 16) | a->port;
    }
    k ^= (uint64_t)socket_id * 0x9e3779b97f4a7c15ull;
    return k == UINT64_MAX ? k - 1 : k;
}

static int transport_has_addr(const struct transport *t, const struct sock *s, const sfu_addr_t *a)
{
    for (uint32_t i = 0; i < t->n_rx; i++)
        if (t->rx_sock[i] == s && sfu_addr_eq(&t->rx_addr[i], a))
            return 1;
    return 0;
}

/* forget address i; an ICE-TCP connection that carried it is closed (it is no use to anyone
 * else) unless it is closing already (`closing`) */
static void transport_drop_addr(sfu_loop_t *l, struct transport *t, uint32_t i, struct sock *closing)
{
    struct sock *s = t->rx_sock[i];
    if (sfu_idmap_get(&l->addrs, t->rx_key[i]) == t)
        sfu_idmap_del(&l->addrs, t->rx_key[i]);
    uint32_t rest = t->n_rx - i - 1;
    memmove(&t->rx_addr[i], &t->rx_addr[i + 1], rest * sizeof(t->rx_addr[0]));
    memmove(&t->rx_sock[i], &t->rx_sock[i + 1], rest * sizeof(t->rx_sock[0]));
    memmove(&t->rx_key[i], &t->rx_key[i + 1], rest * sizeof(t->rx_key[0]));
    t->n_rx--;
    if (t->send_sock == s && s != t->sock) {   /* its remote was on that connection */
        t->send_sock = t->sock;
        t->has_remote = 0;
    }
    if (s->kind == SFU_SOCK_TCP && s != closing && tcp_conn_transport(s) == t)
        tcp_conn_close(l, s, SFU_TCP_CLOSED_BY_US);
}

/* accept packets from `a` on socket `s` for this transport (idempotent); an ICE-TCP
 * connection serves one transport only */
int transport_add_addr(sfu_loop_t *l, struct transport *t, struct sock *s, const sfu_addr_t *a)
{
    if (a->family != AF_INET && a->family != AF_INET6)
        return SFU_EINVAL;
    if (transport_has_addr(t, s, a))
        return SFU_OK;
    if (s->kind == SFU_SOCK_TCP) {
        struct transport *owner = tcp_conn_transport(s);
        if ((owner && owner != t) || !tcp_conn_is_peer(s, a))
            return SFU_EEXIST;
    } else if (s == t->sock && a->family == AF_INET6 && s->v6) {
        s = s->v6;                     /* an IPv6 peer of a dual-stack transport */
    } else if (s != t->sock && s != t->sock->v6) {
        return SFU_EINVAL;
    }
    uint64_t key = addr_key(s->id, a);
    struct transport *other = sfu_idmap_get(&l->addrs, key);
    if (other && other != t)
        return SFU_EEXIST;
    if (t->n_rx == MAX_RX_ADDRS) {   /* forget the oldest address that is not the send address */
        uint32_t victim = 0;
        while (victim < t->n_rx && t->has_remote && t->rx_sock[victim] == t->send_sock &&
               sfu_addr_eq(&t->rx_addr[victim], &t->remote))
            victim++;
        transport_drop_addr(l, t, victim < t->n_rx ? victim : 0, NULL);
    }
    if (!other && sfu_idmap_put(&l->addrs, key, t) != SFU_OK)
        return SFU_ENOMEM;
    t->rx_addr[t->n_rx] = *a;
    t->rx_sock[t->n_rx] = s;
    t->rx_key[t->n_rx] = key;
    t->n_rx++;
    if (s->kind == SFU_SOCK_TCP)
        tcp_conn_bind(s, t);
    return SFU_OK;
}

void transport_forget_sock(sfu_loop_t *l, struct transport *t, struct sock *s)
{
    for (uint32_t i = t->n_rx; i-- > 0;)
        if (t->rx_sock[i] == s)
            transport_drop_addr(l, t, i, s);
}

static void transport_forget_addrs(sfu_loop_t *l, struct transport *t)
{
    while (t->n_rx)
        transport_drop_addr(l, t, t->n_rx - 1, NULL);
    t->has_remote = 0;
    t->send_sock = t->sock;
}

static void transport_set_remote(struct transport *t, struct sock *s, const sfu_addr_t *a)
{
    t->remote = *a;
    sfu_addr_to_sa(a, &t->remote_sa, &t->remote_salen);
    t->send_sock = s;
    t->has_remote = 1;
}

void transport_queue(sfu_loop_t *l, struct transport *t, struct tx_entry *e, uint32_t len)
{
    struct sock *s = t->send_sock;
    if (SFU_LIKELY(s->kind == SFU_SOCK_UDP))
        sfu_udp_tx_queue(&l->tx, e, s->fd, len, &t->remote_sa, t->remote_salen);
    else                               /* the slot stays unqueued: the bytes are framed now */
        tcp_conn_send(l, s, e->buf, len);
}

struct producer *transport_producer(struct transport *t, uint32_t ssrc)
{
    for (uint32_t i = 0; i < t->n_producers; i++)
        if (t->producers[i]->ssrc == ssrc)
            return t->producers[i];
    return NULL;
}

struct producer *transport_rtx_producer(struct transport *t, uint32_t rtx_ssrc)
{
    for (uint32_t i = 0; i < t->n_producers; i++)
        if (t->producers[i]->rtx_ssrc == rtx_ssrc)
            return t->producers[i];
    return NULL;
}

struct consumer *transport_consumer(struct transport *t, uint32_t ssrc)
{
    for (uint32_t i = 0; i < t->n_consumers; i++)
        if (t->consumers[i]->ssrc == ssrc)
            return t->consumers[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* incoming RTP */

/* value of header extension `id` as (offset, length); length 0 when absent */
static uint8_t ext_value(const uint8_t *buf, const sfu_rtp_t *rtp, uint8_t id, uint16_t *off)
{
    int n = id ? sfu_rtp_find_ext(buf, rtp, id, off) : -1;
    return n > 0 ? (uint8_t)n : 0;
}

/* tell the control plane what an unmapped SSRC's packet says about itself
 * (simulcast rid, late SSRC mapping) */
static void report_unknown_ssrc(sfu_loop_t *l, struct transport *t, const uint8_t *buf, const sfu_rtp_t *rtp,
                                const sfu_addr_t *from)
{
    uint8_t rec[sizeof(sfu_unknown_ssrc_t) + 3 * 255];
    sfu_unknown_ssrc_t u = {.ssrc = rtp->ssrc, .payload_type = rtp->payload_type};
    uint16_t mid_off = 0, rid_off = 0, rrid_off = 0;
    u.mid_len = ext_value(buf, rtp, t->ext_ids.mid, &mid_off);
    u.rid_len = ext_value(buf, rtp, t->ext_ids.rid, &rid_off);
    u.repaired_rid_len = ext_value(buf, rtp, t->ext_ids.repaired_rid, &rrid_off);
    uint32_t n = sizeof(u);
    memcpy(rec, &u, sizeof(u));
    memcpy(rec + n, buf + mid_off, u.mid_len);
    n += u.mid_len;
    memcpy(rec + n, buf + rid_off, u.rid_len);
    n += u.rid_len;
    memcpy(rec + n, buf + rrid_off, u.repaired_rid_len);
    n += u.repaired_rid_len;
    sfu_control_queue_push(&l->pyq, SFU_REC_UNKNOWN_SSRC, t->sock->id, t->id, SFU_PKT_RTP, rtp->ssrc, from,
                           rec, n);
}

/* decrypt in place (SRTP transports); 0, or the drop reason (counted) */
static int transport_unprotect_rtp(sfu_loop_t *l, struct transport *t, uint8_t *buf, int *n)
{
    if (!(t->flags & SFU_TF_SRTP))
        return 0;
    int rc = !t->recv_srtp ? SFU_DROP_NO_SRTP : sfu_srtp_unprotect(t->recv_srtp, buf, n) ? SFU_DROP_SRTP_UNPROTECT : 0;
    if (rc)
        loop_drop(l, rc);
    return rc;
}

/* an RTP packet in the clear (decrypted already, or a transport without SRTP) */
static void transport_on_plain_rtp(sfu_loop_t *l, struct transport *t, uint8_t *buf, int n,
                                   const sfu_addr_t *from)
{
    sfu_rtp_t rtp;
    int rc = sfu_rtp_parse(buf, (size_t)n, &rtp);
    if (rc) {
        loop_drop(l, rc);
        return;
    }
    if (t->tcc && rtp.has_extension) {     /* every packet counts for the sender's estimate */
        uint16_t off;
        if (sfu_rtp_find_ext(buf, &rtp, t->ext_ids.transport_cc, &off) == 2)
            sfu_tcc_server_record(t->tcc, sfu_rd16(buf + off), sfu_now_ns() / 1000);
    }
    struct producer *p = transport_producer(t, rtp.ssrc);
    if (!p && rtp.ssrc && (p = transport_rtx_producer(t, rtp.ssrc))) {
        producer_on_rtx(l, p, buf, (uint32_t)n, &rtp);
        return;
    }
    if (!p) {
        loop_drop(l, SFU_DROP_UNKNOWN_SSRC);
        if (t->flags & SFU_TF_TO_PY_ALL) {
            /* at most once per second per SSRC change */
            uint64_t now = sfu_now_ns();
            if (rtp.ssrc != t->last_unknown_ssrc || now - t->last_unknown_ns > UNKNOWN_SSRC_REPEAT_NS) {
                t->last_unknown_ssrc = rtp.ssrc;
                t->last_unknown_ns = now;
                report_unknown_ssrc(l, t, buf, &rtp, from);
            }
        }
        return;
    }
    if (p->kind == SFU_KIND_AUDIO && t->ext_ids.audio_level)
        producer_observe_audio_level(p, buf, &rtp, t->ext_ids.audio_level);
    if (p->red_payload_type && rtp.payload_type == p->red_payload_type) {
        producer_on_red(l, p, buf, (uint32_t)n, &rtp);
        return;
    }
    producer_on_rtp(l, p, buf, (uint32_t)n, &rtp);
}

/* ------------------------------------------------------------------ */
/* routing */

void transport_route_datagram(sfu_loop_t *l, struct sock *s, uint8_t *buf, uint32_t len,
                              const struct sockaddr_storage *ss)
{
    sfu_addr_t from;
    sfu_sa_to_addr(ss, &from);
    int cls = sfu_demux(buf, len);
    struct transport *t = sfu_idmap_get(&l->addrs, addr_key(s->id, &from));
    if (t && !transport_has_addr(t, s, &from))
        t = NULL;
    int n = (int)len;
    if (!t && s->comedia && (cls == SFU_PKT_RTP || cls == SFU_PKT_RTCP)) {
        struct transport *c = s->comedia;
        /* with SRTP, only a packet that authenticates names the remote: a forged one from
         * anywhere else must not take the stream (RTCP waits for the first RTP packet) */
        if (c->flags & SFU_TF_SRTP) {
            if (cls == SFU_PKT_RTCP) {
                loop_drop(l, SFU_DROP_UNKNOWN_SOURCE);
                return;
            }
            if (transport_unprotect_rtp(l, c, buf, &n))
                return;
        }
        if (transport_add_addr(l, c, s, &from) == SFU_OK) {
            t = c;                     /* learn the sender as the transport's remote */
            s->comedia = NULL;
            transport_set_remote(t, s, &from);
            sfu_control_queue_push(&l->pyq, SFU_REC_TRANSPORT_REMOTE_LEARNED, s->id, t->id, cls, 0, &from, NULL, 0);
            if (cls == SFU_PKT_RTP && (t->flags & SFU_TF_SRTP)) {
                transport_on_plain_rtp(l, t, buf, n, &from);     /* decrypted above */
                return;
            }
        }
    }
    switch (cls) {
    case SFU_PKT_RTP:
        if (!t) {
            loop_drop(l, SFU_DROP_UNKNOWN_SOURCE);
            return;
        }
        if (transport_unprotect_rtp(l, t, buf, &n) == 0)
            transport_on_plain_rtp(l, t, buf, n, &from);
        return;
    case SFU_PKT_RTCP:
        if (!t) {
            loop_drop(l, SFU_DROP_UNKNOWN_SOURCE);
            return;
        }
        transport_on_rtcp(l, t, buf, len);
        return;
    case SFU_PKT_STUN: {
        uint16_t uoff, ulen;
        int rc = sfu_stun_check(buf, len, &uoff, &ulen);
        if (rc) {
            loop_drop(l, rc);
            return;
        }
        /* first contact: only a check naming one of our ufrags goes on, so a flood of STUN
         * from strangers costs the loop, not the control plane that sets up new calls */
        if (!t && !(t = transport_by_stun_username(l, buf + uoff, ulen))) {
            loop_drop(l, SFU_DROP_STUN_UNKNOWN_UFRAG);
            return;
        }
        sfu_control_queue_push(&l->pyq, SFU_REC_PACKET, s->id, t->id, cls, 0, &from, buf, len);
        return;
    }
    case SFU_PKT_DTLS:
        if (!t || !(t->flags & SFU_TF_TO_PY_ALL)) {
            loop_drop(l, SFU_DROP_UNKNOWN_SOURCE);
            return;
        }
        sfu_control_queue_push(&l->pyq, SFU_REC_PACKET, s->id, t->id, cls, 0, &from, buf, len);
        return;
    default:
        loop_drop(l, len < 12 ? SFU_DROP_TOO_SHORT : SFU_DROP_UNKNOWN_CLASS);
        return;
    }
}

/* ------------------------------------------------------------------ */
/* lifecycle (commands) */

int sock_open(sfu_loop_t *l, const sfu_cmd_t *c)
{
    if (sfu_idmap_get(&l->sockets, c->id))
        return SFU_EEXIST;
    if (c->flags == SFU_SOCK_TCP)
        return tcp_conn_open(l, c);
    if (c->flags != SFU_SOCK_UDP)
        return SFU_EINVAL;
    struct sock *v4 = NULL;
    if (c->socket_id && (!(v4 = sfu_idmap_get(&l->sockets, c->socket_id)) || v4->kind != SFU_SOCK_UDP || v4->v6))
        return SFU_EINVAL;
    struct sock *s = calloc(1, sizeof(*s));
    if (!s)
        return SFU_ENOMEM;
    s->id = c->id;
    s->fd = c->fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 || sfu_idmap_put(&l->sockets, s->id, s) != SFU_OK) {
        free(s);
        return SFU_EINVAL;
    }
    if (v4)
        v4->v6 = s;
    return SFU_OK;
}

void sock_close(sfu_loop_t *l, struct sock *s)
{
    if (s->kind == SFU_SOCK_TCP) {     /* one connection: its transport stays */
        tcp_conn_close(l, s, SFU_TCP_CLOSED_BY_US);
        return;
    }
    /* transports still on it are removed with it; those reaching IPv6 peers through it (a
     * twin) forget those peers */
    for (uint32_t i = 0; i < l->transports.cap; i++) {
        if (sfu_idmap_live(&l->transports, i)) {
            struct transport *t = l->transports.vals[i];
            if (t->sock == s) {
                transport_free(l, t);
                i = (uint32_t)-1;   /* the map changed: rescan */
            } else {
                transport_forget_sock(l, t, s);
            }
        }
    }
    for (uint32_t i = 0; i < l->sockets.cap; i++)
        if (sfu_idmap_live(&l->sockets, i) && ((struct sock *)l->sockets.vals[i])->v6 == s)
            ((struct sock *)l->sockets.vals[i])->v6 = NULL;
    if (s->v6)
        sock_close(l, s->v6);
    sfu_udp_tx_flush(&l->tx);
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    sfu_idmap_del(&l->sockets, s->id);
    free(s);
}

int transport_create(sfu_loop_t *l, struct sock *s, const sfu_cmd_t *c)
{
    if (sfu_idmap_get(&l->transports, c->id))
        return SFU_EEXIST;
    if ((c->flags & SFU_TF_COMEDIA) && s->comedia)
        return SFU_EEXIST;
    struct transport *t = calloc(1, sizeof(*t));
    if (!t)
        return SFU_ENOMEM;
    if (s->kind != SFU_SOCK_UDP) {
        free(t);
        return SFU_EINVAL;
    }
    t->id = c->id;
    t->flags = c->flags;
    t->sock = s;
    t->send_sock = s;
    if (sfu_idmap_put(&l->transports, t->id, t) != SFU_OK) {
        free(t);
        return SFU_ENOMEM;
    }
    if (c->flags & SFU_TF_COMEDIA)
        s->comedia = t;
    return SFU_OK;
}

int transport_connect(sfu_loop_t *l, struct transport *t, struct sock *s, const sfu_addr_t *a)
{
    if (s == t->sock && a->family == AF_INET6 && s->v6)
        s = s->v6;
    int rc = transport_add_addr(l, t, s, a);
    if (rc != SFU_OK)
        return rc;
    sfu_udp_tx_flush(&l->tx);      /* queued datagrams keep their old destination */
    transport_set_remote(t, s, a);
    if (t->sock->comedia == t)
        t->sock->comedia = NULL;
    return SFU_OK;
}

int transport_set_srtp(sfu_loop_t *l, struct transport *t, void *recv_srtp, void *send_srtp)
{
    sfu_udp_tx_flush(&l->tx);      /* nothing queued may refer to the old session */
    int first_keys = send_srtp && !t->send_srtp;
    t->recv_srtp = recv_srtp;
    t->send_srtp = send_srtp;
    /* a plain transport given keys carries SRTP from now on */
    if (recv_srtp || send_srtp)
        t->flags |= SFU_TF_SRTP;
    /* the key frames sent before the handshake ended never reached the subscriber:
     * its video consumers ask again (throttled per producer) */
    for (uint32_t i = 0; first_keys && i < t->n_consumers; i++)
        if (!t->consumers[i]->paused)
            consumer_request_key_frame(l, t->consumers[i]);
    return SFU_OK;
}

int transport_set_header_extensions(struct transport *t, const sfu_header_ext_ids_t *ids)
{
    if (ids->transport_cc > 14) {
        free(t->tcc);
        t->tcc = NULL;
        t->ext_ids.transport_cc = 0;
        return SFU_EINVAL;
    }
    if (!ids->transport_cc) {
        free(t->tcc);
        t->tcc = NULL;
    } else if (!t->tcc) {
        t->tcc = malloc(sizeof(*t->tcc));
        if (!t->tcc)
            return SFU_ENOMEM;
        sfu_tcc_server_init(t->tcc);
    }
    t->ext_ids = *ids;
    return SFU_OK;
}

void transport_free(sfu_loop_t *l, struct transport *t)
{
    while (t->n_consumers)
        consumer_free(l, t->consumers[t->n_consumers - 1]);
    while (t->n_producers)
        producer_free(l, t->producers[t->n_producers - 1]);
    transport_forget_addrs(l, t);
    transport_forget_ice_ufrag(l, t);
    if (t->sock && t->sock->comedia == t)
        t->sock->comedia = NULL;
    /* a datagram for this transport may still sit in the tx batch */
    sfu_udp_tx_flush(&l->tx);
    sfu_idmap_del(&l->transports, t->id);
    transport_pacing_free(l, t);
    free(t->tcc);
    free(t->bwe);
    free(t->producers);
    free(t->consumers);
    free(t);
}
