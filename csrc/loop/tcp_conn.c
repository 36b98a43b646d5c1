/* tcp_conn.c - ICE-TCP connections of the loop (tcp_conn.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "util/sfu_common.h"
#include "util/addr.h"
#include "util/ptr_array.h"
#include "loop/loop_internal.h"

_Static_assert(SFU_TCP_OPEN_DATA_MAX == SFU_TCP_RX_BUF, "the bytes handed over fit the receive buffer");

#define READS_PER_EVENT 16         /* reads of one connection before the others run (64 KB) */
#define EXPIRE_MAX 64              /* unvalidated connections closed per tick */
/* what a connection may hold unsent: our queue and the kernel's send buffer, each this much
 * (the kernel's default grows to megabytes: seconds of delay on a congested path, where
 * real-time media is better dropped and the send-side estimate left to adapt) */
#define SEND_QUEUE_BYTES (128 * 1024)

struct transport *tcp_conn_transport(const struct sock *s)
{
    return s->tcp ? s->tcp->t : NULL;
}

int tcp_conn_is_peer(const struct sock *s, const sfu_addr_t *a)
{
    return s->tcp && sfu_addr_eq(&s->tcp->peer, a);
}

void tcp_conn_bind(struct sock *s, struct transport *t)
{
    s->tcp->t = t;
}

/* the socket map is read by the Python thread (sfu_loop_send_raw) under the mutex */
static void sockets_lock(sfu_loop_t *l)
{
    if (!l->in_command)
        pthread_mutex_lock(&l->mu);
}

static void sockets_unlock(sfu_loop_t *l)
{
    if (!l->in_command)
        pthread_mutex_unlock(&l->mu);
}

static void want_events(sfu_loop_t *l, struct sock *s, uint32_t events)
{
    if (s->tcp->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = s};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0)
        s->tcp->events = events;
}

/* route the whole frames held: each is copied into a receive buffer of the loop, because the
 * fan-out keeps pointers into what it forwards until fanout_flush */
static void deliver(sfu_loop_t *l, struct sock *s)
{
    struct tcp_conn *c = s->tcp;
    const uint8_t *f;
    uint32_t len, k = 0;
    while (s->fd >= 0 && sfu_tcp_rx_next(&c->rx, &f, &len)) {
        l->stats.rx_packets++;
        l->stats.rx_bytes += len;
        if (len > SFU_MTU) {
            loop_drop(l, SFU_DROP_TOO_LONG);
            continue;
        }
        memcpy(l->rx.bufs[k], f, len);
        transport_route_datagram(l, s, l->rx.bufs[k], len, &c->peer_sa);
        if (++k == l->rx.batch) {
            fanout_flush(l);
            k = 0;
        }
    }
    if (k)
        fanout_flush(l);
    uint64_t bad = c->rx.oversized + c->rx.empty;
    l->stats.drops[SFU_DROP_TCP_BAD_FRAME] += bad - c->bad_counted;
    c->bad_counted = bad;
}

int tcp_conn_open(sfu_loop_t *l, const sfu_cmd_t *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct sock *s = NULL;
    struct tcp_conn *tc = NULL;
    if (c->fd < 0 || c->data_len > SFU_TCP_OPEN_DATA_MAX || (c->data_len && !c->data))
        goto fail;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        goto fail;
    int fl = fcntl(c->fd, F_GETFL);
    int one = 1;
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        goto fail;
    /* frames are whole packets: waiting to coalesce them only adds delay */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int sndbuf = SEND_QUEUE_BYTES;
    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    s = calloc(1, sizeof(*s));
    tc = calloc(1, sizeof(*tc));
    if (!s || !tc)
        goto fail;
    s->id = c->id;
    s->fd = c->fd;
    s->kind = SFU_SOCK_TCP;
    s->tcp = tc;
    tc->peer_sa = ss;
    sfu_sa_to_addr(&ss, &tc->peer);
    tc->opened_ns = sfu_now_ns();
    tc->events = EPOLLIN | EPOLLRDHUP;
    sfu_tcp_rx_init(&tc->rx);
    struct epoll_event ev = {.events = tc->events, .data.ptr = s};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
        goto fail;
    sockets_lock(l);
    int rc = sfu_idmap_put(&l->sockets, s->id, s);
    sockets_unlock(l);
    if (rc != SFU_OK) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        goto fail;
    }
    l->stats.tcp_opened++;
    if (c->data_len) {             /* what the acceptor read: the first check */
        sfu_tcp_rx_push(&tc->rx, c->data, c->data_len);
        deliver(l, s);
    }
    return SFU_OK;
fail:
    if (c->fd >= 0)
        close(c->fd);
    free(tc);
    free(s);
    return SFU_EINVAL;
}

int tcp_conn_receive(sfu_loop_t *l, struct sock *s)
{
    struct tcp_conn *c = s->tcp;
    for (int r = 0; r < READS_PER_EVENT; r++) {
        uint32_t room;
        uint8_t *p = sfu_tcp_rx_space(&c->rx, &room);
        ssize_t n = recv(s->fd, p, room, MSG_DONTWAIT);
        if (n == 0) {
            tcp_conn_close(l, s, SFU_TCP_CLOSED_BY_PEER);
            return -1;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            tcp_conn_close(l, s, SFU_TCP_CLOSED_ERROR);
            return -1;
        }
        sfu_tcp_rx_commit(&c->rx, (uint32_t)n);
        deliver(l, s);
        if (s->fd < 0)
            return -1;
        if ((uint32_t)n < room)    /* drained for now */
            return 0;
    }
    return 0;
}

/* write until the queue is empty or the kernel's buffer is full; 0, or -1 when it closed */
static int conn_write(sfu_loop_t *l, struct sock *s)
{
    struct tcp_conn *c = s->tcp;
    const uint8_t *p;
    uint32_t n;
    while (c->tx && (n = sfu_tcp_tx_peek(c->tx, &p)) > 0) {
        ssize_t w = send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                want_events(l, s, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
                return 0;
            }
            tcp_conn_close(l, s, SFU_TCP_CLOSED_ERROR);
            return -1;
        }
        sfu_tcp_tx_consume(c->tx, (uint32_t)w);
    }
    want_events(l, s, EPOLLIN | EPOLLRDHUP);
    return 0;
}

void tcp_conn_writable(sfu_loop_t *l, struct sock *s)
{
    conn_write(l, s);
}

int tcp_conn_send(sfu_loop_t *l, struct sock *s, const uint8_t *buf, uint32_t len)
{
    struct tcp_conn *c = s->tcp;
    if (s->fd < 0) {
        loop_drop(l, SFU_DROP_TRANSPORT_CLOSED);
        return 0;
    }
    if (!c->tx) {
        c->tx = malloc(sizeof(*c->tx));
        if (!c->tx) {
            loop_drop(l, SFU_DROP_TCP_QUEUE_FULL);
            return 0;
        }
        sfu_tcp_tx_init(c->tx, SEND_QUEUE_BYTES);
    }
    if (!sfu_tcp_tx_enqueue(c->tx, buf, len)) {
        loop_drop(l, SFU_DROP_TCP_QUEUE_FULL);
        return 0;
    }
    l->stats.tx_packets++;
    l->stats.tx_bytes += len;
    if (!c->dirty) {
        if (PUSH(l->tcp_dirty, l->n_tcp_dirty, l->cap_tcp_dirty, s) == SFU_OK)
            c->dirty = 1;
        else                       /* no room to remember it: the kernel will say when to write */
            want_events(l, s, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
    }
    return 1;
}

void tcp_conns_flush(sfu_loop_t *l)
{
    while (l->n_tcp_dirty) {
        struct sock *s = l->tcp_dirty[--l->n_tcp_dirty];
        s->tcp->dirty = 0;
        if (s->fd >= 0)
            conn_write(l, s);
    }
}

void tcp_conn_close(sfu_loop_t *l, struct sock *s, int why)
{
    struct tcp_conn *c = s->tcp;
    if (s->fd < 0)
        return;
    struct transport *t = c->t;
    c->t = NULL;                   /* before the transport forgets it: no second close */
    if (t)
        transport_forget_sock(l, t, s);
    if (c->dirty) {
        REMOVE(l->tcp_dirty, l->n_tcp_dirty, s);
        c->dirty = 0;
    }
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->fd = -1;
    sockets_lock(l);
    sfu_idmap_del(&l->sockets, s->id);
    sockets_unlock(l);
    l->stats.tcp_closed++;
    sfu_control_queue_push(&l->pyq, SFU_REC_TCP_CLOSED, s->id, t ? t->id : 0, 0, (uint32_t)why, &c->peer, NULL, 0);
    if (PUSH(l->tcp_closed, l->n_tcp_closed, l->cap_tcp_closed, s) != SFU_OK) {
        free(c->tx);               /* cannot defer: free now (an event for it may be pending) */
        free(c);
        s->tcp = NULL;
    }
}

void tcp_conns_reap(sfu_loop_t *l)
{
    while (l->n_tcp_closed) {
        struct sock *s = l->tcp_closed[--l->n_tcp_closed];
        if (s->tcp) {
            free(s->tcp->tx);
            free(s->tcp);
        }
        free(s);
    }
}

void tcp_conns_expire(sfu_loop_t *l, uint64_t now)
{
    struct sock *old[EXPIRE_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < l->sockets.cap && n < EXPIRE_MAX; i++) {
        if (!sfu_idmap_live(&l->sockets, i))
            continue;
        struct sock *s = l->sockets.vals[i];
        if (s->kind == SFU_SOCK_TCP && !s->tcp->t && now - s->tcp->opened_ns > SFU_TCP_UNBOUND_NS)
            old[n++] = s;
    }
    for (uint32_t i = 0; i < n; i++)
        tcp_conn_close(l, old[i], SFU_TCP_CLOSED_BY_US);
}
