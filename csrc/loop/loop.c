/* loop.c - the forwarding loop of one media worker: its lifecycle, the run
 * loop and its timers.
 *
 * One thread per worker runs sfu_loop_run(): it waits on epoll for the
 * worker's UDP sockets, commands and ring wake-ups, receives datagrams in
 * batches (udp_io.c) and routes them (rtc/transport.c), reads the rings
 * from other workers (pipe_rings.c), runs the timers (reports, transport-cc
 * feedback, producer activity, NACKs to publishers, the pacers and probes of the
 * transports with congestion control: every millisecond), then sends what the
 * iteration queued, publishes the rings and wakes Python (control_queue.c).  It
 * spins for a while when idle before it sleeps.
 *
 * Threading: all forwarding state is owned by the loop thread.  Python
 * changes it only through sfu_loop_command() (commands.c). */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <unistd.h>
#include "util/sfu_common.h"
#include "loop/loop_internal.h"

_Static_assert(sizeof(((sfu_stats_t *)0)->drops) / sizeof(uint64_t) == SFU_DROP__COUNT, "a counter per drop reason");

#define SPIN_ITERATIONS 200        /* empty polls before the loop sleeps */
#define REPORT_INTERVAL_NS 1000000000ull   /* SR / RR period */
#define TCC_INTERVAL_NS 100000000ull       /* transport-cc feedback and producer activity period */
#define NACK_INTERVAL_NS 20000000ull       /* NACKs to publishers: at most this often */
#define SOCKET_BATCHES 4           /* receive batches from one busy socket before the others */

sfu_loop_t *sfu_loop_new(const sfu_loop_config_t *cfg)
{
    if (!cfg || cfg->n_workers == 0 || cfg->n_workers > SFU_MAX_WORKERS ||
        cfg->worker_id >= cfg->n_workers)
        return NULL;
    if (cfg->n_workers > 1 &&
        (!cfg->shm_base || cfg->shm_size < sfu_shm_bytes(cfg->n_workers, cfg->ring_slots)))
        return NULL;
    sfu_loop_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->cfg = *cfg;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->cmd_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    int rx = sfu_udp_rx_init(&l->rx, cfg->rx_batch);
    int tx = sfu_udp_tx_init(&l->tx, &l->stats);
    int pyq = sfu_control_queue_init(&l->pyq, cfg->to_py_bytes, &l->stats);
    if (l->epfd < 0 || l->cmd_fd < 0 || rx || tx || pyq ||
        sfu_idmap_init(&l->sockets, 16) || sfu_idmap_init(&l->transports, 64) ||
        sfu_idmap_init(&l->producers, 64) || sfu_idmap_init(&l->consumers, 256) ||
        sfu_idmap_init(&l->addrs, 64) || sfu_idmap_init(&l->ufrags, 64))
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->cmd_fd, &ev) < 0)
        goto fail;
    int me = (int)cfg->worker_id;
    if (cfg->wake_fds[me] >= 0 && cfg->n_workers > 1) {
        struct epoll_event wev = {.events = EPOLLIN, .data.ptr = (void *)&l->cfg.wake_fds[me]};
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, cfg->wake_fds[me], &wev) < 0)
            goto fail;
    }
    if (sfu_pipe_rings_attach(&l->rings, &l->cfg, &l->stats) != SFU_OK)
        goto fail;
    return l;
fail:
    sfu_loop_free(l);
    return NULL;
}

void sfu_loop_free(sfu_loop_t *l)
{
    if (!l)
        return;
    struct transport *t;
    struct producer *p;
    struct sock *s;
    if (l->transports.keys)
        while ((t = sfu_idmap_any(&l->transports)))
            transport_free(l, t);
    if (l->producers.keys)         /* remote producers */
        while ((p = sfu_idmap_any(&l->producers)))
            producer_free(l, p);
    if (l->sockets.keys)
        while ((s = sfu_idmap_any(&l->sockets))) {
            if (s->kind == SFU_SOCK_TCP) {   /* one its transport did not take with it */
                tcp_conn_close(l, s, SFU_TCP_CLOSED_BY_US);
                continue;
            }
            close(s->fd);
            sfu_idmap_del(&l->sockets, s->id);
            free(s);
        }
    tcp_conns_reap(l);
    free(l->tcp_dirty);
    free(l->tcp_closed);
    sfu_idmap_free(&l->sockets);
    sfu_idmap_free(&l->transports);
    sfu_idmap_free(&l->producers);
    sfu_idmap_free(&l->consumers);
    sfu_idmap_free(&l->addrs);
    sfu_idmap_free(&l->ufrags);
    free(l->paced);
    if (l->epfd >= 0) close(l->epfd);
    if (l->cmd_fd >= 0) close(l->cmd_fd);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    sfu_control_queue_free(&l->pyq);
    sfu_udp_rx_free(&l->rx);
    sfu_udp_tx_free(&l->tx);
    free(l);
}

void sfu_loop_stop(sfu_loop_t *l)
{
    atomic_store(&l->stop, 1);
    uint64_t v = 1;
    ssize_t w = write(l->cmd_fd, &v, sizeof(v));
    (void)w;
}

/* one receive batch from socket s; returns the datagrams read */
static int socket_receive(sfu_loop_t *l, struct sock *s)
{
    int n = sfu_udp_rx_batch(&l->rx, s->fd);
    if (n <= 0)
        return 0;
    l->stats.rx_batches++;
    for (int i = 0; i < n; i++) {
        uint32_t len = l->rx.msgs[i].msg_len;
        l->stats.rx_packets++;
        l->stats.rx_bytes += len;
        if (len > SFU_MTU || (l->rx.msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
            loop_drop(l, SFU_DROP_TOO_LONG);
            continue;
        }
        transport_route_datagram(l, s, l->rx.bufs[i], len, &l->rx.from[i]);
    }
    fanout_flush(l);                   /* before the receive buffers are reused */
    return n;
}

int sfu_loop_run(sfu_loop_t *l)
{
    struct epoll_event evs[64];
    atomic_store(&l->running, 1);
    int idle = 0;
    while (!atomic_load(&l->stop)) {
        int timeout = 0;
        int slept = 0;
        if (idle >= SPIN_ITERATIONS) {
            if (!sfu_pipe_rings_prepare_sleep(&l->rings)) {
                /* wake for the reports, the NACK timer while packets are missing, the
                 * held key frame requests, or the next millisecond of pacing */
                uint64_t wait = l->nack_waiting ? NACK_INTERVAL_NS
                              : l->keyframe_held ? TCC_INTERVAL_NS : REPORT_INTERVAL_NS;
                timeout = l->pacing_busy ? 1 : (int)(wait / 1000000ull);
                slept = 1;
            }
        }
        int n = epoll_wait(l->epfd, evs, 64, timeout);
        if (slept)
            sfu_pipe_rings_cancel_sleep(&l->rings);
        l->stats.iterations++;
        int work = 0;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == NULL) {                         /* command or stop */
                uint64_t v;
                ssize_t r = read(l->cmd_fd, &v, sizeof(v));
                (void)r;
                loop_service_command(l);
                work = 1;
            } else if (p == (void *)&l->cfg.wake_fds[l->cfg.worker_id]) {
                uint64_t v;
                ssize_t r = read(l->cfg.wake_fds[l->cfg.worker_id], &v, sizeof(v));
                (void)r;
            } else if (((struct sock *)p)->kind == SFU_SOCK_TCP) {
                struct sock *s = p;
                if (s->fd < 0)                       /* closed earlier in this iteration */
                    continue;
                if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
                    if (tcp_conn_receive(l, s) < 0)
                        continue;
                    work = 1;
                }
                if (evs[i].events & EPOLLOUT)
                    tcp_conn_writable(l, s);
            } else {
                struct sock *s = p;
                /* drain a busy socket in a few batches, then let others run */
                for (int k = 0; k < SOCKET_BATCHES; k++) {
                    int got = socket_receive(l, s);
                    work += got;
                    if (got < (int)l->rx.batch)
                        break;
                }
            }
        }
        work += sfu_pipe_rings_receive(&l->rings, producer_on_ring_message, fanout_flush, l);
        uint64_t now = sfu_now_ns();
        if (now >= l->next_report_ns) {
            l->next_report_ns = now + REPORT_INTERVAL_NS;
            transport_rtcp_send_reports(l, now);
            tcp_conns_expire(l, now);
        }
        if (now >= l->next_nack_ns && l->nack_waiting) {
            l->next_nack_ns = now + NACK_INTERVAL_NS;
            producers_send_nacks(l, now);
        }
        if (now >= l->next_tcc_ns) {
            l->next_tcc_ns = now + TCC_INTERVAL_NS;
            transport_rtcp_send_tcc_feedback(l);
            producers_check_activity(l, now);
            producers_send_held_requests(l, now);
            transport_bwe_report(l, now);
        }
        transport_pace(l, now);
        sfu_udp_tx_flush(&l->tx);
        tcp_conns_flush(l);
        tcp_conns_reap(l);
        sfu_pipe_rings_publish(&l->rings);
        sfu_control_queue_notify(&l->pyq);
        idle = work ? 0 : idle + 1;
    }
    sfu_udp_tx_flush(&l->tx);
    tcp_conns_flush(l);
    sfu_pipe_rings_publish(&l->rings);
    pthread_mutex_lock(&l->mu);
    atomic_store(&l->running, 0);
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void sfu_loop_get_stats(sfu_loop_t *l, sfu_stats_t *out)
{
    memcpy(out, &l->stats, sizeof(*out));
}

int sfu_loop_producer_stats(sfu_loop_t *l, uint32_t id, sfu_stream_stats_t *out)
{
    pthread_mutex_lock(&l->mu);
    struct producer *p = sfu_idmap_get(&l->producers, id);
    if (p) {
        *out = p->stats;
        const sfu_rtp_stream_recv_t *r = &p->recv;
        out->expected = p->t && r->initialized ? (uint64_t)(r->cycles + r->max_seq) - r->base_seq + 1 : 0;
        out->received = p->t && r->initialized ? r->received : 0;
    }
    pthread_mutex_unlock(&l->mu);
    return p ? SFU_OK : SFU_ENOENT;
}

int sfu_loop_producer_audio_level(sfu_loop_t *l, uint32_t id, sfu_audio_level_stats_t *out)
{
    pthread_mutex_lock(&l->mu);
    struct producer *p = sfu_idmap_get(&l->producers, id);
    if (p)
        *out = p->audio_level;
    pthread_mutex_unlock(&l->mu);
    return p ? SFU_OK : SFU_ENOENT;
}

int sfu_loop_consumer_stats(sfu_loop_t *l, uint32_t id, sfu_stream_stats_t *out)
{
    pthread_mutex_lock(&l->mu);
    struct consumer *c = sfu_idmap_get(&l->consumers, id);
    if (c) {
        *out = c->stats;
        out->spatial = c->svc.spatial;
        out->temporal = c->svc.temporal;
    }
    pthread_mutex_unlock(&l->mu);
    return c ? SFU_OK : SFU_ENOENT;
}
