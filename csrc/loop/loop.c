/* loop.c - the forwarding loop of one media worker.
 *
 * One thread per worker runs sfu_loop_run(): it owns the worker's UDP
 * sockets (epoll + recvmmsg/sendmmsg), demuxes every datagram by its first
 * byte, decrypts SRTP once per incoming packet, fans the packet out to the
 * producer's local consumers (rewrite SSRC/PT/seq/ts in the copy, encrypt
 * once per consumer, batch into sendmmsg) and puts it once on the shared
 * ring of every other worker that has consumers of it.  STUN and DTLS go
 * to the control plane through an in-process queue that wakes Python at
 * most once per batch.  Every datagram not forwarded is counted under one
 * drop reason.
 *
 * Threading: all forwarding state is owned by the loop thread.  Python
 * changes it only through sfu_loop_command(), which hands one command to
 * the loop thread and blocks until it is applied (or applies it directly
 * while the loop is not running).  sfu_loop_send_raw() writes to a socket
 * from the Python thread under the same mutex.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/sfu_common.h"
#include "util/idmap.h"
#include "loop/ring.h"
#include "rtc/stream.h"
#include "util/addr.h"

#define RX_BATCH_MAX 64
#define TX_BATCH 256
#define GSO_MAX_SEGMENTS 64        /* datagrams per UDP_SEGMENT send */
#define GSO_MAX_BYTES 60000
#define PENDING_MAX 256            /* packets fanned out together (one receive or ring batch) */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define RING_BUDGET 256            /* ring messages per ring per iteration */
#define SPIN_ITERATIONS 200        /* empty polls before the loop sleeps */
#define BUF_SIZE (SFU_MTU + SFU_SRTP_TRAILER_MAX + 8)
#define PLI_THROTTLE_NS 500000000ull
#define MAX_RX_ADDRS 8             /* addresses a transport accepts packets from */
#define REPORT_INTERVAL_NS 1000000000ull   /* SR / RR period */
#define NACK_MAX_RESENDS 3
#define NACK_MIN_GAP_NS 100000000ull       /* a packet is resent at most every 100 ms */
#define CACHE_SLOTS_VIDEO 512
#define CACHE_SLOTS_AUDIO 128
#define SFU_SSRC 1                         /* sender SSRC of the SFU's own RTCP */
#define TWCC_INTERVAL_NS 100000000ull      /* transport-cc feedback period */
#define SEQ_MAX_DROPOUT 3000       /* RFC 3550 A.1: a larger jump ahead is a discontinuity */
#define SEQ_MAX_MISORDER 100       /* ... and so is a step back by more than this */

struct consumer;

struct sock {
    uint32_t id;
    int fd;
    struct transport *comedia;     /* transport learning its remote on this socket */
};

struct transport {
    uint32_t id;
    uint32_t flags;
    struct sock *sock;
    int has_remote;
    sfu_addr_t remote;
    struct sockaddr_storage remote_sa;
    socklen_t remote_salen;
    /* every address this transport receives from (ICE may validate several
     * candidate pairs; media may arrive on any of them); [0] is the oldest */
    sfu_addr_t rx_addr[MAX_RX_ADDRS];
    uint64_t rx_key[MAX_RX_ADDRS];
    uint32_t n_rx;
    void *srtp_in;
    void *srtp_out;
    struct producer **producers;   /* producers fed by this transport (by ssrc) */
    uint32_t n_producers, cap_producers;
    struct consumer **consumers;   /* consumers sending on this transport */
    uint32_t n_consumers, cap_consumers;
    uint32_t last_unknown_ssrc;
    uint64_t last_unknown_ns;
    uint8_t twcc_id;               /* transport-wide-cc extension id of incoming media */
    sfu_twcc_t *twcc;              /* feedback state (publishers with transport-cc) */
};

struct producer {
    uint32_t id;
    uint32_t peer;                 /* owning worker (remote producers) */
    struct transport *t;           /* NULL for a producer living on another worker */
    uint32_t ssrc;
    uint8_t payload_type;
    uint8_t kind;
    uint8_t codec;                 /* SFU_CODEC_*: key frame detection for layer switches */
    uint64_t remote_mask;          /* other workers with consumers of it */
    struct consumer **consumers;
    uint32_t n_consumers, cap_consumers;
    uint64_t last_pli_ns;
    sfu_rx_stats_t rx;             /* for receiver reports (local producers) */
    sfu_pkt_cache_t cache;         /* answers NACKs of its consumers (allocated on demand) */
    sfu_stream_stats_t stats;
};

struct consumer {
    uint32_t id;
    struct transport *t;
    struct producer *p;
    struct producer *target;       /* switching to this producer at its next key frame */
    uint32_t out_ssrc;
    uint8_t out_pt;
    uint8_t paused;
    uint8_t started;               /* seq offset fixed by the first packet */
    uint8_t resync;                /* next packet re-bases the seq offset */
    uint8_t ts_resync;             /* next packet re-bases the timestamp offset (new source) */
    uint16_t seq_start;
    uint16_t seq_off;
    uint32_t ts_off;
    uint16_t last_out_seq;
    uint32_t last_out_ts;
    uint64_t last_out_ns;
    uint8_t ext_rewrite;
    uint8_t ext_map[16];           /* publisher's extension id -> subscriber's, 0 = remove */
    uint32_t sr_packets;           /* packets counted at the last SR */
    sfu_send_hist_t *hist;         /* out seq -> source packet, for NACKs (RTCP transports) */
    sfu_stream_stats_t stats;
};

struct tx_entry {
    int fd;
    uint32_t len;
    struct sockaddr_storage to;
    socklen_t tolen;
    uint8_t buf[BUF_SIZE];
};

struct sfu_loop {
    sfu_loop_config_t cfg;
    int epfd;
    int cmd_fd;                    /* eventfd: a command is pending or stop */
    int py_fd;                     /* eventfd: records for Python */
    _Atomic int stop;
    _Atomic int running;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    const sfu_cmd_t *pending;
    int pending_rc;
    int pending_done;

    sfu_idmap_t sockets, transports, producers, consumers, addrs;

    /* rings: out[w] this worker -> w, in[w] w -> this worker */
    sfu_ring_t *ring_out[SFU_MAX_WORKERS];
    sfu_ring_t *ring_in[SFU_MAX_WORKERS];
    uint64_t ring_dirty;           /* bitmask of out rings with unpublished writes */

    /* receive batch */
    uint32_t rx_batch;
    struct mmsghdr rx_msgs[RX_BATCH_MAX];
    struct iovec rx_iov[RX_BATCH_MAX];
    struct sockaddr_storage rx_from[RX_BATCH_MAX];
    uint8_t (*rx_bufs)[BUF_SIZE];

    /* transmit batch (flushed as runs of one fd) */
    struct tx_entry *tx;
    uint32_t tx_n;
    struct mmsghdr tx_msgs[TX_BATCH];
    struct iovec tx_iov[TX_BATCH];
    uint16_t tx_segs[TX_BATCH];    /* datagrams in each message (GSO) */
    uint8_t tx_ctrl[TX_BATCH][CMSG_SPACE(sizeof(uint16_t))];
    int gso_off;                   /* the kernel refused UDP_SEGMENT: send datagrams one by one */

    /* packets of one batch, fanned out consumer by consumer so that each
     * consumer's datagrams are consecutive (and can leave as one GSO send) */
    struct pending {
        struct producer *p;
        const uint8_t *pkt;
        uint32_t len;
        sfu_rtp_t rtp;
    } pend[PENDING_MAX];
    uint32_t n_pend;

    /* loop -> Python byte queue (single producer: loop thread) */
    uint8_t *pyq;
    uint32_t pyq_cap;
    _Atomic uint64_t pyq_head;     /* bytes written (loop) */
    _Atomic uint64_t pyq_tail;     /* bytes consumed (Python) */
    _Atomic int py_waiting;
    int py_dirty;

    uint8_t scratch[BUF_SIZE];
    uint64_t next_report_ns;
    uint64_t next_twcc_ns;
    sfu_stats_t stats;
};

/* ------------------------------------------------------------------ */
/* addresses */

/* exact for IPv4; a hash for IPv6 (a hit is confirmed with addr_eq) */
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
    return k ^ ((uint64_t)socket_id << 48);
}

static int transport_has_addr(const struct transport *t, const sfu_addr_t *a)
{
    for (uint32_t i = 0; i < t->n_rx; i++)
        if (sfu_addr_eq(&t->rx_addr[i], a))
            return 1;
    return 0;
}

static void transport_drop_addr(sfu_loop_t *l, struct transport *t, uint32_t i)
{
    if (sfu_idmap_get(&l->addrs, t->rx_key[i]) == t)
        sfu_idmap_del(&l->addrs, t->rx_key[i]);
    memmove(&t->rx_addr[i], &t->rx_addr[i + 1], (t->n_rx - i - 1) * sizeof(t->rx_addr[0]));
    memmove(&t->rx_key[i], &t->rx_key[i + 1], (t->n_rx - i - 1) * sizeof(t->rx_key[0]));
    t->n_rx--;
}

/* accept packets from `a` for this transport (idempotent) */
static int transport_add_addr(sfu_loop_t *l, struct transport *t, const sfu_addr_t *a)
{
    if (a->family != AF_INET && a->family != AF_INET6)
        return SFU_EINVAL;
    if (transport_has_addr(t, a))
        return SFU_OK;
    uint64_t key = addr_key(t->sock->id, a);
    struct transport *other = sfu_idmap_get(&l->addrs, key);
    if (other && other != t)
        return SFU_EEXIST;
    if (t->n_rx == MAX_RX_ADDRS) {   /* forget the oldest address that is not the send address */
        uint32_t victim = 0;
        while (victim < t->n_rx && t->has_remote && sfu_addr_eq(&t->rx_addr[victim], &t->remote))
            victim++;
        transport_drop_addr(l, t, victim < t->n_rx ? victim : 0);
    }
    if (!other && sfu_idmap_put(&l->addrs, key, t) != SFU_OK)
        return SFU_ENOMEM;
    t->rx_addr[t->n_rx] = *a;
    t->rx_key[t->n_rx] = key;
    t->n_rx++;
    return SFU_OK;
}

static void transport_forget_addrs(sfu_loop_t *l, struct transport *t)
{
    while (t->n_rx)
        transport_drop_addr(l, t, t->n_rx - 1);
    t->has_remote = 0;
}

/* ------------------------------------------------------------------ */
/* small pointer arrays */

static int ptr_push(void ***arr, uint32_t *n, uint32_t *cap, void *p)
{
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 4;
        void **a = realloc(*arr, c * sizeof(void *));
        if (!a)
            return SFU_ENOMEM;
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
    return SFU_OK;
}

static void ptr_remove(void **arr, uint32_t *n, void *p)
{
    for (uint32_t i = 0; i < *n; i++)
        if (arr[i] == p) {
            memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(void *));
            (*n)--;
            return;
        }
}

#define PUSH(arr, n, cap, p) ptr_push((void ***)&(arr), &(n), &(cap), (p))
#define REMOVE(arr, n, p) ptr_remove((void **)(arr), &(n), (p))

static inline void drop(sfu_loop_t *l, int reason)
{
    l->stats.drops[reason]++;
}

/* ------------------------------------------------------------------ */
/* loop -> Python queue */

static void pyq_push(sfu_loop_t *l, uint32_t kind, uint32_t socket_id, uint32_t transport_id,
                     uint32_t pkt_class, uint32_t arg, const sfu_addr_t *from,
                     const uint8_t *data, uint32_t len)
{
    uint32_t need = (uint32_t)((sizeof(sfu_py_rec_t) + len + 7) & ~7u);
    uint64_t head = atomic_load_explicit(&l->pyq_head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&l->pyq_tail, memory_order_acquire);
    uint32_t pos = (uint32_t)(head % l->pyq_cap);
    uint32_t to_end = l->pyq_cap - pos;
    uint32_t extra = 0;
    if (to_end < need)
        extra = to_end;            /* wrap: the reader skips the tail end */
    if (head + extra + need - tail > l->pyq_cap) {
        drop(l, SFU_DROP_TO_PY_FULL);
        return;
    }
    if (extra) {
        if (to_end >= sizeof(uint32_t))
            memset(l->pyq + pos, 0, sizeof(uint32_t)); /* kind 0 = skip to start */
        head += extra;
        pos = 0;
    }
    sfu_py_rec_t rec = {
        .kind = kind, .len = len, .socket_id = socket_id, .transport_id = transport_id,
        .pkt_class = pkt_class, .arg = arg, .ts_ns = sfu_now_ns(),
    };
    if (from)
        rec.from = *from;
    memcpy(l->pyq + pos, &rec, sizeof(rec));
    if (len)
        memcpy(l->pyq + pos + sizeof(rec), data, len);
    atomic_store_explicit(&l->pyq_head, head + need, memory_order_release);
    l->stats.to_py++;
    l->py_dirty = 1;
}

static void pyq_notify(sfu_loop_t *l)
{
    if (!l->py_dirty)
        return;
    l->py_dirty = 0;
    atomic_thread_fence(memory_order_seq_cst);
    int one = 1;
    if (atomic_load_explicit(&l->py_waiting, memory_order_relaxed) &&
        atomic_compare_exchange_strong(&l->py_waiting, &one, 0)) {
        uint64_t v = 1;
        ssize_t w = write(l->py_fd, &v, sizeof(v));
        (void)w;
    }
}

int sfu_loop_py_fd(sfu_loop_t *l) { return l->py_fd; }

int64_t sfu_loop_py_drain(sfu_loop_t *l, uint8_t *out, size_t cap)
{
    uint64_t tail = atomic_load_explicit(&l->pyq_tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&l->pyq_head, memory_order_acquire);
    size_t written = 0;
    while (tail < head) {
        uint32_t pos = (uint32_t)(tail % l->pyq_cap);
        uint32_t to_end = l->pyq_cap - pos;
        if (to_end < sizeof(sfu_py_rec_t)) {
            tail += to_end;
            continue;
        }
        sfu_py_rec_t rec;
        memcpy(&rec, l->pyq + pos, sizeof(rec));
        if (rec.kind == 0) {
            tail += to_end;
            continue;
        }
        uint32_t need = (uint32_t)((sizeof(sfu_py_rec_t) + rec.len + 7) & ~7u);
        if (written + need > cap)
            break;
        memcpy(out + written, l->pyq + pos, need);
        written += need;
        tail += need;
    }
    atomic_store_explicit(&l->pyq_tail, tail, memory_order_release);
    return (int64_t)written;
}

int sfu_loop_py_arm(sfu_loop_t *l)
{
    uint64_t v;
    ssize_t r = read(l->py_fd, &v, sizeof(v));   /* clear a pending wake-up */
    (void)r;
    atomic_store_explicit(&l->py_waiting, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&l->pyq_head, memory_order_acquire) !=
        atomic_load_explicit(&l->pyq_tail, memory_order_relaxed)) {
        atomic_store_explicit(&l->py_waiting, 0, memory_order_relaxed);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* transmit batch */

/* Send the queued datagrams: runs of one socket go out with sendmmsg, and
 * consecutive datagrams of equal size to one destination (a consumer's share
 * of a batch) become a single message with UDP_SEGMENT (GSO), which costs the
 * kernel a fraction of separate datagrams. */
static void tx_flush(sfu_loop_t *l)
{
    uint32_t i = 0;
    while (i < l->tx_n) {
        int fd = l->tx[i].fd;
        uint32_t nmsg = 0, j = i;
        while (j < l->tx_n && l->tx[j].fd == fd) {
            struct tx_entry *e = &l->tx[j];
            uint32_t k = j + 1, bytes = e->len;
            if (!l->gso_off) {
                /* equal-size datagrams to the same address; the last may be shorter */
                while (k < l->tx_n && k - j < GSO_MAX_SEGMENTS && l->tx[k].fd == fd &&
                       l->tx[k].tolen == e->tolen && l->tx[k].len <= e->len &&
                       bytes + l->tx[k].len <= GSO_MAX_BYTES &&
                       memcmp(&l->tx[k].to, &e->to, e->tolen) == 0) {
                    bytes += l->tx[k].len;
                    k++;
                    if (l->tx[k - 1].len < e->len)
                        break;
                }
            }
            struct msghdr *h = &l->tx_msgs[nmsg].msg_hdr;
            memset(h, 0, sizeof(*h));
            h->msg_name = &e->to;
            h->msg_namelen = e->tolen;
            h->msg_iov = &l->tx_iov[j];
            h->msg_iovlen = k - j;
            for (uint32_t m = j; m < k; m++) {
                l->tx_iov[m].iov_base = l->tx[m].buf;
                l->tx_iov[m].iov_len = l->tx[m].len;
            }
            if (k - j > 1) {
                h->msg_control = l->tx_ctrl[nmsg];
                h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
                struct cmsghdr *cm = CMSG_FIRSTHDR(h);
                cm->cmsg_level = SOL_UDP;
                cm->cmsg_type = UDP_SEGMENT;
                cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                uint16_t seg = (uint16_t)e->len;
                memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
            }
            l->tx_segs[nmsg] = (uint16_t)(k - j);
            nmsg++;
            j = k;
        }
        uint32_t done = 0, sent = 0;   /* messages, and datagrams in them */
        int regroup = 0;
        while (done < nmsg) {
            int r = sendmmsg(fd, l->tx_msgs + done, nmsg - done, MSG_DONTWAIT);
            l->stats.tx_batches++;
            if (r > 0) {
                for (int k = 0; k < r; k++) {
                    struct msghdr *h = &l->tx_msgs[done + k].msg_hdr;
                    for (size_t m = 0; m < h->msg_iovlen; m++)
                        l->stats.tx_bytes += h->msg_iov[m].iov_len;
                    l->stats.tx_packets += l->tx_segs[done + k];
                    if (l->tx_segs[done + k] > 1)
                        l->stats.tx_gso += l->tx_segs[done + k];
                    sent += l->tx_segs[done + k];
                }
                done += (uint32_t)r;
            } else if (r < 0 && errno == EINTR) {
                continue;
            } else if (r < 0 && l->tx_segs[done] > 1 && !l->gso_off &&
                       (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
                l->gso_off = 1;            /* no GSO on this system: datagrams one by one from now on */
                regroup = 1;
                break;
            } else {
                for (uint32_t m = 0; m < l->tx_segs[done]; m++)
                    drop(l, SFU_DROP_SEND_FAILED);   /* skip the message that failed */
                sent += l->tx_segs[done];
                done++;
            }
        }
        /* after a GSO refusal, rebuild the rest of this socket's run without it */
        i = regroup ? i + sent : j;
    }
    l->tx_n = 0;
}

static inline struct tx_entry *tx_slot(sfu_loop_t *l)
{
    if (l->tx_n == TX_BATCH)
        tx_flush(l);
    return &l->tx[l->tx_n];
}

/* ------------------------------------------------------------------ */
/* forwarding */

/* Rewrite the header extension ids of an outgoing copy to the ids the
 * subscriber negotiated; elements it did not negotiate become padding (RFC
 * 8285 allows zero bytes between elements), so the packet keeps its size.
 * The extension block was bounds-checked by sfu_rtp_parse. */
static void rewrite_extensions(uint8_t *b, const sfu_rtp_t *rtp, const uint8_t *map)
{
    uint8_t *p = b + rtp->ext_offset;
    size_t n = rtp->ext_len, i = 0;
    if (rtp->ext_profile == 0xBEDE) {
        while (i < n) {
            uint8_t h = p[i];
            if (h == 0) { i++; continue; }
            uint8_t id = h >> 4;
            size_t len = (size_t)(h & 0x0f) + 1;
            if (id == 15 || i + 1 + len > n) {  /* reserved id: the rest is not ours to read */
                memset(p + i, 0, n - i);
                return;
            }
            uint8_t out = map[id];
            if (out)
                p[i] = (uint8_t)((out << 4) | (h & 0x0f));
            else
                memset(p + i, 0, 1 + len);
            i += 1 + len;
        }
    } else if ((rtp->ext_profile & 0xfff0) == 0x1000) {
        while (i < n) {
            uint8_t id = p[i];
            if (id == 0) { i++; continue; }
            if (i + 2 > n) { memset(p + i, 0, n - i); return; }
            size_t len = p[i + 1];
            if (i + 2 + len > n) { memset(p + i, 0, n - i); return; }
            uint8_t out = id < 16 ? map[id] : 0;
            if (out)
                p[i] = out;
            else
                memset(p + i, 0, 2 + len);
            i += 2 + len;
        }
    } else {
        memset(p, 0, n);               /* unknown profile: nothing is understood */
    }
}

static void consumer_send(sfu_loop_t *l, struct consumer *c, const uint8_t *pkt, uint32_t len,
                          const sfu_rtp_t *rtp)
{
    struct transport *t = c->t;
    if (c->paused) {
        c->resync = 1;
        c->stats.dropped++;
        drop(l, SFU_DROP_CONSUMER_PAUSED);
        return;
    }
    if (SFU_UNLIKELY(!t->has_remote)) {
        c->stats.dropped++;
        drop(l, SFU_DROP_NO_REMOTE);
        return;
    }
    if (SFU_UNLIKELY((t->flags & SFU_TF_SRTP) && !t->srtp_out)) {
        c->stats.dropped++;
        drop(l, SFU_DROP_NO_SRTP);
        return;
    }
    if (SFU_UNLIKELY(!c->started)) {
        c->seq_off = (uint16_t)(c->seq_start - rtp->seq);
        c->started = 1;
        c->resync = 0;
    } else if (SFU_UNLIKELY(c->resync)) {
        /* continue right after the last sequence number sent */
        c->seq_off = (uint16_t)(c->last_out_seq + 1 - rtp->seq);
        c->resync = 0;
    } else if (c->stats.packets) {
        uint16_t d = (uint16_t)(rtp->seq - (uint16_t)(c->last_out_seq - c->seq_off));
        if (SFU_UNLIKELY(d >= SEQ_MAX_DROPOUT && d <= (uint16_t)(0x10000 - SEQ_MAX_MISORDER)))
            c->seq_off = (uint16_t)(c->last_out_seq + 1 - rtp->seq);
    }
    if (SFU_UNLIKELY(c->ts_resync)) {
        /* a new source: continue the timeline by the wall-clock time elapsed */
        uint64_t clock = (c->p && c->p->kind == SFU_KIND_AUDIO) ? 48000 : 90000;
        uint64_t elapsed = c->last_out_ns ? (sfu_now_ns() - c->last_out_ns) * clock / 1000000000ull : 0;
        c->ts_off = (uint32_t)(c->last_out_ts + (uint32_t)elapsed + 1 - rtp->ts);
        c->ts_resync = 0;
    }
    struct tx_entry *e = tx_slot(l);
    memcpy(e->buf, pkt, len);
    uint16_t out_seq = (uint16_t)(rtp->seq + c->seq_off);
    uint32_t out_ts = rtp->ts + c->ts_off;
    e->buf[1] = (uint8_t)((pkt[1] & 0x80) | (c->out_pt & 0x7f));
    sfu_wr16(e->buf + 2, out_seq);
    sfu_wr32(e->buf + 4, out_ts);
    sfu_wr32(e->buf + 8, c->out_ssrc);
    if (c->ext_rewrite && rtp->has_extension)
        rewrite_extensions(e->buf, rtp, c->ext_map);
    int outlen = (int)len;
    if (t->flags & SFU_TF_SRTP) {
        if (sfu_srtp_protect(t->srtp_out, e->buf, &outlen) != 0) {
            c->stats.dropped++;
            drop(l, SFU_DROP_SRTP_PROTECT);
            return;
        }
    }
    e->fd = t->sock->fd;
    e->len = (uint32_t)outlen;
    memcpy(&e->to, &t->remote_sa, t->remote_salen);
    e->tolen = t->remote_salen;
    l->tx_n++;
    if (sfu_seq_newer(out_seq, c->last_out_seq) || c->stats.packets == 0) {
        c->last_out_seq = out_seq;
        c->last_out_ts = out_ts;
        c->last_out_ns = sfu_now_ns();
    }
    if (c->hist)
        sfu_hist_put(c->hist, out_seq, rtp->seq, out_ts, c->p->id);
    c->stats.packets++;
    c->stats.bytes += len;
    c->stats.last_seq = out_seq;
    c->stats.last_ts = out_ts;
}

static void keyframe_for_producer(sfu_loop_t *l, struct producer *p);

/* move consumer c from its producer to `np` (both in c's lists until now) */
static void consumer_switch(struct consumer *c, struct producer *np)
{
    if (c->p && c->p != np)
        REMOVE(c->p->consumers, c->p->n_consumers, c);
    c->p = np;
    c->target = NULL;
    if (c->started) {
        c->resync = 1;
        c->ts_resync = 1;
    }
}

/* a packet of producer p for consumer c: its own stream, or the stream it is
 * switching to (taken over at the first key frame) */
static inline void consumer_on_packet(sfu_loop_t *l, struct consumer *c, struct producer *p,
                                      const uint8_t *pkt, uint32_t len, const sfu_rtp_t *rtp)
{
    if (SFU_LIKELY(c->p == p)) {
        consumer_send(l, c, pkt, len, rtp);
        return;
    }
    if (c->target != p)
        return;
    if (sfu_rtp_is_keyframe(pkt, rtp, p->codec) != 0) {   /* key frame, or not detectable */
        consumer_switch(c, p);
        consumer_send(l, c, pkt, len, rtp);
    } else {
        keyframe_for_producer(l, p);                        /* throttled */
    }
}

static void rings_publish(sfu_loop_t *l);

/* Fan out the batch: for each producer (in order of its first packet), each
 * consumer takes all of that producer's packets of the batch in turn, so a
 * consumer's datagrams sit together in the transmit queue (GSO). */
static void pending_flush(sfu_loop_t *l)
{
    uint32_t n = l->n_pend;
    l->n_pend = 0;
    for (uint32_t a = 0; a < n; a++) {
        struct producer *p = l->pend[a].p;
        if (!p)
            continue;                  /* already done with its producer's group */
        for (uint32_t i = 0; i < p->n_consumers; i++) {
            struct consumer *c = p->consumers[i];
            for (uint32_t b = a; b < n; b++)
                if (l->pend[b].p == p)
                    consumer_on_packet(l, c, p, l->pend[b].pkt, l->pend[b].len, &l->pend[b].rtp);
            if (i < p->n_consumers && p->consumers[i] != c)
                i--;                   /* c switched away from p: the list moved down */
        }
        for (uint32_t b = a + 1; b < n; b++)
            if (l->pend[b].p == p)
                l->pend[b].p = NULL;
    }
}

static inline void pending_add(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, uint32_t len,
                               const sfu_rtp_t *rtp)
{
    if (l->n_pend == PENDING_MAX)
        pending_flush(l);
    struct pending *e = &l->pend[l->n_pend++];
    e->p = p;
    e->pkt = pkt;
    e->len = len;
    e->rtp = *rtp;
}

static void producer_fanout(sfu_loop_t *l, struct producer *p, const uint8_t *pkt, uint32_t len,
                            const sfu_rtp_t *rtp)
{
    p->stats.packets++;
    p->stats.bytes += len;
    p->stats.last_seq = rtp->seq;
    p->stats.last_ts = rtp->ts;
    sfu_rx_update(&p->rx, rtp->seq, rtp->ts, sfu_now_ns());
    if (p->cache.data)
        sfu_cache_put(&p->cache, rtp->seq, pkt, len);
    uint64_t mask = p->remote_mask;
    if (mask) {
        uint64_t now = sfu_now_ns();
        while (mask) {
            int w = __builtin_ctzll(mask);
            mask &= mask - 1;
            sfu_ring_t *r = l->ring_out[w];
            if (!r)
                continue;
            sfu_ring_slot_t *s = sfu_ring_reserve(r);
            if (!s) {
                drop(l, SFU_DROP_RING_FULL);
                continue;
            }
            memcpy(sfu_ring_slot_data(s), pkt, len);
            sfu_ring_commit(r, s, SFU_RING_RTP, p->id, now, (uint16_t)len);
            l->ring_dirty |= 1ull << w;
            l->stats.ring_tx++;
        }
        rings_publish(l);
    }
    if (p->n_consumers)
        pending_add(l, p, pkt, len, rtp);
}

/* queue an RTCP packet built in e->buf for transport t (SRTCP when secure) */
static void transport_send_rtcp(sfu_loop_t *l, struct transport *t, struct tx_entry *e, uint32_t len)
{
    int n = (int)len;
    if (t->flags & SFU_TF_SRTP) {
        if (!t->srtp_out) {            /* DTLS not finished yet */
            drop(l, SFU_DROP_NO_SRTP);
            return;
        }
        if (sfu_srtp_protect_rtcp(t->srtp_out, e->buf, &n) != 0) {
            drop(l, SFU_DROP_SRTP_PROTECT);
            return;
        }
    }
    e->fd = t->sock->fd;
    e->len = (uint32_t)n;
    memcpy(&e->to, &t->remote_sa, t->remote_salen);
    e->tolen = t->remote_salen;
    l->tx_n++;
    l->stats.rtcp_sent++;
}

/* send a PLI for producer p to its publisher (p lives on this worker) */
static void producer_request_keyframe(sfu_loop_t *l, struct producer *p)
{
    struct transport *t = p->t;
    if (!t || !t->has_remote)
        return;
    uint64_t now = sfu_now_ns();
    if (p->last_pli_ns && now - p->last_pli_ns < PLI_THROTTLE_NS)
        return;
    p->last_pli_ns = now;
    struct tx_entry *e = tx_slot(l);
    transport_send_rtcp(l, t, e, sfu_rtcp_build_pli(e->buf, SFU_SSRC, p->ssrc));
}

static void keyframe_for_producer(sfu_loop_t *l, struct producer *p)
{
    if (p->t) {
        producer_request_keyframe(l, p);
        return;
    }
    /* the producer lives on another worker: ask it over the ring */
    sfu_ring_t *r = p->peer < SFU_MAX_WORKERS ? l->ring_out[p->peer] : NULL;
    if (!r)
        return;
    uint64_t now = sfu_now_ns();
    if (p->last_pli_ns && now - p->last_pli_ns < PLI_THROTTLE_NS)
        return;
    p->last_pli_ns = now;
    sfu_ring_slot_t *s = sfu_ring_reserve(r);
    if (!s) {
        drop(l, SFU_DROP_RING_FULL);
        return;
    }
    sfu_ring_commit(r, s, SFU_RING_RTCP_TO_PRODUCER, p->id, now, 0);
    l->ring_dirty |= 1ull << p->peer;
    l->stats.ring_tx++;
}

static struct producer *transport_producer(struct transport *t, uint32_t ssrc)
{
    for (uint32_t i = 0; i < t->n_producers; i++)
        if (t->producers[i]->ssrc == ssrc)
            return t->producers[i];
    return NULL;
}

static struct consumer *transport_consumer(struct transport *t, uint32_t out_ssrc)
{
    for (uint32_t i = 0; i < t->n_consumers; i++)
        if (t->consumers[i]->out_ssrc == out_ssrc)
            return t->consumers[i];
    return NULL;
}

/* answer a NACK for one of consumer c's output sequence numbers */
static void consumer_resend(sfu_loop_t *l, struct consumer *c, uint16_t out_seq, uint64_t now)
{
    l->stats.nacks++;
    sfu_sent_t *h = c->hist ? sfu_hist_get(c->hist, out_seq) : NULL;
    if (!h || h->resends >= NACK_MAX_RESENDS || (h->last_ns && now - h->last_ns < NACK_MIN_GAP_NS)) {
        l->stats.nack_misses++;
        return;
    }
    struct producer *p = sfu_idmap_get(&l->producers, h->producer_id);
    uint32_t len = 0;
    const uint8_t *src = p ? sfu_cache_get(&p->cache, h->in_seq, &len) : NULL;
    sfu_rtp_t rtp;
    if (!src || sfu_rtp_parse(src, len, &rtp) != SFU_DROP_NONE || !c->t->has_remote) {
        l->stats.nack_misses++;
        return;
    }
    struct transport *t = c->t;
    struct tx_entry *e = tx_slot(l);
    memcpy(e->buf, src, len);
    e->buf[1] = (uint8_t)((src[1] & 0x80) | (c->out_pt & 0x7f));
    sfu_wr16(e->buf + 2, out_seq);
    sfu_wr32(e->buf + 4, h->out_ts);
    sfu_wr32(e->buf + 8, c->out_ssrc);
    if (c->ext_rewrite && rtp.has_extension)
        rewrite_extensions(e->buf, &rtp, c->ext_map);
    int outlen = (int)len;
    if ((t->flags & SFU_TF_SRTP) && (!t->srtp_out || sfu_srtp_protect(t->srtp_out, e->buf, &outlen) != 0)) {
        drop(l, SFU_DROP_SRTP_PROTECT);
        return;
    }
    e->fd = t->sock->fd;
    e->len = (uint32_t)outlen;
    memcpy(&e->to, &t->remote_sa, t->remote_salen);
    e->tolen = t->remote_salen;
    l->tx_n++;
    h->resends++;
    h->last_ns = now;
    l->stats.retransmits++;
}

static void handle_rtp(sfu_loop_t *l, struct transport *t, uint8_t *buf, uint32_t len,
                       const sfu_addr_t *from)
{
    int n = (int)len;
    if (t->flags & SFU_TF_SRTP) {
        if (!t->srtp_in) {
            drop(l, SFU_DROP_NO_SRTP);
            return;
        }
        if (sfu_srtp_unprotect(t->srtp_in, buf, &n) != 0) {
            drop(l, SFU_DROP_SRTP_UNPROTECT);
            return;
        }
    }
    sfu_rtp_t rtp;
    int rc = sfu_rtp_parse(buf, (size_t)n, &rtp);
    if (rc) {
        drop(l, rc);
        return;
    }
    if (t->twcc && rtp.has_extension) {     /* every packet counts for the sender's estimate */
        uint16_t off;
        if (sfu_rtp_find_ext(buf, &rtp, t->twcc_id, &off) == 2)
            sfu_twcc_record(t->twcc, sfu_rd16(buf + off), sfu_now_ns() / 1000);
    }
    struct producer *p = transport_producer(t, rtp.ssrc);
    if (!p) {
        drop(l, SFU_DROP_UNKNOWN_SSRC);
        if (t->flags & SFU_TF_TO_PY_ALL) {
            /* tell the control plane (simulcast rid / late SSRC mapping),
             * at most once per second per SSRC change */
            uint64_t now = sfu_now_ns();
            if (rtp.ssrc != t->last_unknown_ssrc || now - t->last_unknown_ns > 1000000000ull) {
                t->last_unknown_ssrc = rtp.ssrc;
                t->last_unknown_ns = now;
                pyq_push(l, SFU_REC_UNKNOWN_SSRC, t->sock->id, t->id, SFU_PKT_RTP, rtp.ssrc,
                         from, buf, (uint32_t)n);
            }
        }
        return;
    }
    producer_fanout(l, p, buf, (uint32_t)n, &rtp);
}

static void handle_rtcp(sfu_loop_t *l, struct transport *t, uint8_t *buf, uint32_t len)
{
    int n = (int)len;
    if (t->flags & SFU_TF_SRTP) {
        if (!t->srtp_in) {
            drop(l, SFU_DROP_NO_SRTP);
            return;
        }
        if (sfu_srtp_unprotect_rtcp(t->srtp_in, buf, &n) != 0) {
            drop(l, SFU_DROP_SRTP_UNPROTECT);
            return;
        }
    }
    int rc = sfu_rtcp_validate(buf, (size_t)n);
    if (rc) {
        drop(l, rc);
        return;
    }
    size_t off = 0;
    sfu_rtcp_t pkt;
    uint64_t now = sfu_now_ns();
    while (sfu_rtcp_next(buf, (size_t)n, &off, &pkt) == 1) {
        if (pkt.pt == 205 && pkt.count == 1) {           /* generic NACK from a subscriber */
            struct consumer *c = transport_consumer(t, pkt.media_ssrc);
            uint16_t seqs[256];
            int k = c ? sfu_rtcp_nack_seqs(buf, &pkt, seqs, 256) : 0;
            for (int i = 0; i < k; i++)
                consumer_resend(l, c, seqs[i], now);
            continue;
        }
        if (pkt.pt == 200 && pkt.len >= 28) {             /* SR from a publisher: for RR's LSR/DLSR */
            struct producer *p = transport_producer(t, pkt.sender_ssrc);
            if (p)
                sfu_rx_on_sr(&p->rx, sfu_rd32(buf + pkt.offset + 8), sfu_rd32(buf + pkt.offset + 12), now);
            continue;
        }
        int is_pli = pkt.pt == 206 && pkt.count == 1;
        int is_fir = pkt.pt == 206 && pkt.count == 4;
        if (is_pli || is_fir) {
            uint32_t target = pkt.media_ssrc;
            if (is_fir && pkt.len >= 20)          /* FIR: SSRC is in the FCI */
                target = sfu_rd32(buf + pkt.offset + 12);
            struct consumer *c = transport_consumer(t, target);
            if (c && c->p)
                keyframe_for_producer(l, c->p);
        }
    }
}

static void handle_datagram(sfu_loop_t *l, struct sock *s, uint8_t *buf, uint32_t len,
                            const struct sockaddr_storage *ss)
{
    sfu_addr_t from;
    sfu_sa_to_addr(ss, &from);
    int cls = sfu_demux(buf, len);
    struct transport *t = sfu_idmap_get(&l->addrs, addr_key(s->id, &from));
    if (t && !transport_has_addr(t, &from))
        t = NULL;
    if (!t && s->comedia && (cls == SFU_PKT_RTP || cls == SFU_PKT_RTCP) &&
        transport_add_addr(l, s->comedia, &from) == SFU_OK) {
        t = s->comedia;            /* learn the sender as the transport's remote */
        s->comedia = NULL;
        t->remote = from;
        sfu_addr_to_sa(&from, &t->remote_sa, &t->remote_salen);
        t->has_remote = 1;
        pyq_push(l, SFU_REC_REMOTE_LEARNED, s->id, t->id, cls, 0, &from, NULL, 0);
    }
    switch (cls) {
    case SFU_PKT_RTP:
        if (!t) {
            drop(l, SFU_DROP_UNKNOWN_SOURCE);
            return;
        }
        handle_rtp(l, t, buf, len, &from);
        return;
    case SFU_PKT_RTCP:
        if (!t) {
            drop(l, SFU_DROP_UNKNOWN_SOURCE);
            return;
        }
        handle_rtcp(l, t, buf, len);
        return;
    case SFU_PKT_STUN: {
        uint16_t uoff, ulen;
        int rc = sfu_stun_check(buf, len, &uoff, &ulen);
        if (rc) {
            drop(l, rc);
            return;
        }
        pyq_push(l, SFU_REC_PACKET, s->id, t ? t->id : 0, cls, 0, &from, buf, len);
        return;
    }
    case SFU_PKT_DTLS:
        if (!t || !(t->flags & SFU_TF_TO_PY_ALL)) {
            drop(l, SFU_DROP_UNKNOWN_SOURCE);
            return;
        }
        pyq_push(l, SFU_REC_PACKET, s->id, t->id, cls, 0, &from, buf, len);
        return;
    default:
        drop(l, len < 12 ? SFU_DROP_TOO_SHORT : SFU_DROP_UNKNOWN_CLASS);
        return;
    }
}

static int socket_receive(sfu_loop_t *l, struct sock *s)
{
    uint32_t b = l->rx_batch;
    for (uint32_t i = 0; i < b; i++) {
        l->rx_iov[i].iov_base = l->rx_bufs[i];
        l->rx_iov[i].iov_len = SFU_MTU + 1;     /* one spare byte detects oversize */
        memset(&l->rx_msgs[i].msg_hdr, 0, sizeof(struct msghdr));
        l->rx_msgs[i].msg_hdr.msg_name = &l->rx_from[i];
        l->rx_msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        l->rx_msgs[i].msg_hdr.msg_iov = &l->rx_iov[i];
        l->rx_msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(s->fd, l->rx_msgs, b, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return 0;
    l->stats.rx_batches++;
    for (int i = 0; i < n; i++) {
        uint32_t len = l->rx_msgs[i].msg_len;
        l->stats.rx_packets++;
        l->stats.rx_bytes += len;
        if (len > SFU_MTU || (l->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
            drop(l, SFU_DROP_TOO_LONG);
            continue;
        }
        handle_datagram(l, s, l->rx_bufs[i], len, &l->rx_from[i]);
    }
    pending_flush(l);                  /* before the receive buffers are reused */
    return n;
}

static int rings_receive(sfu_loop_t *l)
{
    int total = 0;
    for (uint32_t w = 0; w < l->cfg.n_workers; w++) {
        sfu_ring_t *r = l->ring_in[w];
        if (!r)
            continue;
        int got = 0;
        while (got < RING_BUDGET) {
            int status;
            sfu_ring_slot_t *slot = sfu_ring_peek(r, &status);
            if (!slot) {
                if (status == 0)
                    break;
                drop(l, -status);   /* a skipped slot counts against the budget too */
                got++;
                continue;
            }
            sfu_ring_msg_t m;
            const uint8_t *data;
            sfu_ring_slot_msg(slot, &m, &data);
            got++;
            l->stats.ring_rx++;
            struct producer *p = sfu_idmap_get(&l->producers, m.producer_id);
            if (!p) {
                drop(l, SFU_DROP_RING_UNKNOWN_PRODUCER);
            } else if (m.kind == SFU_RING_RTP) {
                sfu_rtp_t rtp;
                int rc = sfu_rtp_parse(data, m.len, &rtp);
                if (rc) {
                    drop(l, rc);
                } else {
                    if (p->cache.data)
                        sfu_cache_put(&p->cache, rtp.seq, data, m.len);
                    if (p->n_consumers)
                        pending_add(l, p, data, m.len, &rtp);   /* the slot stays valid until release */
                }
            } else if (m.kind == SFU_RING_RTCP_TO_PRODUCER) {
                producer_request_keyframe(l, p);
            }
            sfu_ring_advance(r);
        }
        pending_flush(l);
        if (got)
            sfu_ring_release(r);
        total += got;
    }
    return total;
}

static void rings_publish(sfu_loop_t *l)
{
    uint64_t dirty = l->ring_dirty;
    l->ring_dirty = 0;
    while (dirty) {
        int w = __builtin_ctzll(dirty);
        dirty &= dirty - 1;
        if (sfu_ring_publish(l->ring_out[w]) && l->cfg.wake_fds[w] >= 0) {
            uint64_t v = 1;
            ssize_t r = write(l->cfg.wake_fds[w], &v, sizeof(v));
            (void)r;
            l->stats.wakeups++;
        }
    }
}

/* ------------------------------------------------------------------ */
/* commands (loop thread, or caller thread while not running) */

/* a producer whose consumers may NACK keeps a packet cache */
static int producer_want_cache(struct producer *p)
{
    if (p->cache.data)
        return SFU_OK;
    return sfu_cache_init(&p->cache, p->kind == SFU_KIND_AUDIO ? CACHE_SLOTS_AUDIO : CACHE_SLOTS_VIDEO);
}

static void consumer_free(sfu_loop_t *l, struct consumer *c)
{
    free(c->hist);
    if (c->target)
        REMOVE(c->target->consumers, c->target->n_consumers, c);
    if (c->p)
        REMOVE(c->p->consumers, c->p->n_consumers, c);
    if (c->t)
        REMOVE(c->t->consumers, c->t->n_consumers, c);
    sfu_idmap_del(&l->consumers, c->id);
    free(c);
}

static void producer_free(sfu_loop_t *l, struct producer *p)
{
    /* consumers only waiting to switch to p stay with their producer; those
     * leaving p for another one switch now instead of going away with it */
    for (uint32_t i = 0; i < p->n_consumers;) {
        struct consumer *c = p->consumers[i];
        if (c->target == p && c->p != p) {
            c->target = NULL;
            REMOVE(p->consumers, p->n_consumers, c);
        } else if (c->p == p && c->target && c->target != p) {
            consumer_switch(c, c->target);       /* removes c from p's list */
        } else {
            i++;
        }
    }
    while (p->n_consumers)
        consumer_free(l, p->consumers[p->n_consumers - 1]);
    if (p->t)
        REMOVE(p->t->producers, p->t->n_producers, p);
    sfu_idmap_del(&l->producers, p->id);
    sfu_cache_free(&p->cache);
    free(p->consumers);
    free(p);
}

static void transport_free(sfu_loop_t *l, struct transport *t)
{
    while (t->n_consumers)
        consumer_free(l, t->consumers[t->n_consumers - 1]);
    while (t->n_producers)
        producer_free(l, t->producers[t->n_producers - 1]);
    transport_forget_addrs(l, t);
    if (t->sock && t->sock->comedia == t)
        t->sock->comedia = NULL;
    /* a datagram for this transport may still sit in the tx batch */
    tx_flush(l);
    sfu_idmap_del(&l->transports, t->id);
    free(t->twcc);
    free(t->producers);
    free(t->consumers);
    free(t);
}

static int cmd_apply(sfu_loop_t *l, const sfu_cmd_t *c)
{
    l->stats.commands++;
    switch (c->type) {
    case SFU_CMD_SOCKET_ADD: {
        if (sfu_idmap_get(&l->sockets, c->id))
            return SFU_EEXIST;
        struct sock *s = calloc(1, sizeof(*s));
        if (!s)
            return SFU_ENOMEM;
        s->id = c->id;
        s->fd = c->fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ||
            sfu_idmap_put(&l->sockets, s->id, s) != SFU_OK) {
            free(s);
            return SFU_EINVAL;
        }
        return SFU_OK;
    }
    case SFU_CMD_SOCKET_DEL: {
        struct sock *s = sfu_idmap_get(&l->sockets, c->id);
        if (!s)
            return SFU_ENOENT;
        /* transports still on it are removed with it */
        for (uint32_t i = 0; i < l->transports.cap; i++) {
            uint64_t k = l->transports.keys[i];
            if (k && k != UINT64_MAX) {
                struct transport *t = l->transports.vals[i];
                if (t->sock == s) {
                    transport_free(l, t);
                    i = (uint32_t)-1;   /* the map changed: rescan */
                }
            }
        }
        tx_flush(l);
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        sfu_idmap_del(&l->sockets, s->id);
        free(s);
        return SFU_OK;
    }
    case SFU_CMD_TRANSPORT_ADD: {
        struct sock *s = sfu_idmap_get(&l->sockets, c->socket_id);
        if (!s)
            return SFU_ENOENT;
        if (sfu_idmap_get(&l->transports, c->id))
            return SFU_EEXIST;
        if ((c->flags & SFU_TF_COMEDIA) && s->comedia)
            return SFU_EEXIST;
        struct transport *t = calloc(1, sizeof(*t));
        if (!t)
            return SFU_ENOMEM;
        t->id = c->id;
        t->flags = c->flags;
        t->sock = s;
        if (sfu_idmap_put(&l->transports, t->id, t) != SFU_OK) {
            free(t);
            return SFU_ENOMEM;
        }
        if (c->flags & SFU_TF_COMEDIA)
            s->comedia = t;
        return SFU_OK;
    }
    case SFU_CMD_TRANSPORT_SET_REMOTE: {
        struct transport *t = sfu_idmap_get(&l->transports, c->id);
        if (!t)
            return SFU_ENOENT;
        int rc = transport_add_addr(l, t, &c->addr);
        if (rc != SFU_OK)
            return rc;
        tx_flush(l);               /* queued datagrams keep their old destination */
        t->remote = c->addr;
        sfu_addr_to_sa(&c->addr, &t->remote_sa, &t->remote_salen);
        t->has_remote = 1;
        if (t->sock->comedia == t)
            t->sock->comedia = NULL;
        return SFU_OK;
    }
    case SFU_CMD_TRANSPORT_SET_TWCC: {
        struct transport *t = sfu_idmap_get(&l->transports, c->id);
        if (!t)
            return SFU_ENOENT;
        if (c->ext_id == 0 || c->ext_id > 14) {
            free(t->twcc);
            t->twcc = NULL;
            t->twcc_id = 0;
            return c->ext_id == 0 ? SFU_OK : SFU_EINVAL;
        }
        if (!t->twcc) {
            t->twcc = malloc(sizeof(*t->twcc));
            if (!t->twcc)
                return SFU_ENOMEM;
            sfu_twcc_init(t->twcc);
        }
        t->twcc_id = c->ext_id;
        return SFU_OK;
    }
    case SFU_CMD_TRANSPORT_ADD_ADDR: {
        struct transport *t = sfu_idmap_get(&l->transports, c->id);
        if (!t)
            return SFU_ENOENT;
        return transport_add_addr(l, t, &c->addr);
    }
    case SFU_CMD_TRANSPORT_SET_SRTP: {
        struct transport *t = sfu_idmap_get(&l->transports, c->id);
        if (!t)
            return SFU_ENOENT;
        tx_flush(l);               /* nothing queued may refer to the old session */
        t->srtp_in = c->srtp_in;
        t->srtp_out = c->srtp_out;
        /* a plain transport given keys carries SRTP from now on */
        if (c->srtp_in || c->srtp_out)
            t->flags |= SFU_TF_SRTP;
        return SFU_OK;
    }
    case SFU_CMD_TRANSPORT_DEL: {
        struct transport *t = sfu_idmap_get(&l->transports, c->id);
        if (!t)
            return SFU_ENOENT;
        transport_free(l, t);
        return SFU_OK;
    }
    case SFU_CMD_PRODUCER_ADD: {
        struct transport *t = sfu_idmap_get(&l->transports, c->transport_id);
        if (!t)
            return SFU_ENOENT;
        if (sfu_idmap_get(&l->producers, c->id) || transport_producer(t, c->ssrc))
            return SFU_EEXIST;
        struct producer *p = calloc(1, sizeof(*p));
        if (!p)
            return SFU_ENOMEM;
        p->id = c->id;
        p->t = t;
        p->peer = l->cfg.worker_id;
        p->ssrc = c->ssrc;
        p->payload_type = c->payload_type;
        p->kind = c->kind;
        p->codec = c->codec;
        p->remote_mask = c->remote_mask & ~(1ull << l->cfg.worker_id);
        sfu_rx_init(&p->rx, p->kind == SFU_KIND_AUDIO ? 48000 : 90000);
        if (sfu_idmap_put(&l->producers, p->id, p) || PUSH(t->producers, t->n_producers, t->cap_producers, p)) {
            sfu_idmap_del(&l->producers, p->id);
            free(p);
            return SFU_ENOMEM;
        }
        return SFU_OK;
    }
    case SFU_CMD_REMOTE_PRODUCER_ADD: {
        if (c->peer >= l->cfg.n_workers || c->peer == l->cfg.worker_id)
            return SFU_EINVAL;
        if (sfu_idmap_get(&l->producers, c->id))
            return SFU_EEXIST;
        struct producer *p = calloc(1, sizeof(*p));
        if (!p)
            return SFU_ENOMEM;
        p->id = c->id;
        p->peer = c->peer;
        p->ssrc = c->ssrc;
        p->kind = c->kind;
        p->codec = c->codec;
        if (sfu_idmap_put(&l->producers, p->id, p)) {
            free(p);
            return SFU_ENOMEM;
        }
        return SFU_OK;
    }
    case SFU_CMD_PRODUCER_DEL:
    case SFU_CMD_REMOTE_PRODUCER_DEL: {
        struct producer *p = sfu_idmap_get(&l->producers, c->id);
        if (!p)
            return SFU_ENOENT;
        if ((c->type == SFU_CMD_PRODUCER_DEL) != (p->t != NULL))
            return SFU_EINVAL;
        producer_free(l, p);
        return SFU_OK;
    }
    case SFU_CMD_PRODUCER_SET_REMOTES: {
        struct producer *p = sfu_idmap_get(&l->producers, c->id);
        if (!p || !p->t)
            return SFU_ENOENT;
        uint64_t all = l->cfg.n_workers >= 64 ? ~0ull : ((1ull << l->cfg.n_workers) - 1);
        p->remote_mask = c->remote_mask & all & ~(1ull << l->cfg.worker_id);
        return SFU_OK;
    }
    case SFU_CMD_CONSUMER_ADD: {
        struct transport *t = sfu_idmap_get(&l->transports, c->transport_id);
        struct producer *p = sfu_idmap_get(&l->producers, c->producer_id);
        if (!t || !p)
            return SFU_ENOENT;
        if (sfu_idmap_get(&l->consumers, c->id))
            return SFU_EEXIST;
        struct consumer *k = calloc(1, sizeof(*k));
        if (!k)
            return SFU_ENOMEM;
        k->id = c->id;
        k->t = t;
        k->p = p;
        k->out_ssrc = c->out_ssrc;
        k->out_pt = c->out_payload_type;
        k->seq_start = c->seq_start;
        k->ts_off = c->ts_offset;
        k->paused = (c->flags & 1) ? 1 : 0;
        k->ext_rewrite = c->ext_rewrite ? 1 : 0;
        memcpy(k->ext_map, c->ext_map, sizeof(k->ext_map));
        k->ext_map[0] = 0;
        k->ext_map[15] = 0;
        if (t->flags & SFU_TF_RTCP) {
            k->hist = calloc(1, sizeof(*k->hist));
            if (!k->hist || producer_want_cache(p) != SFU_OK) {
                free(k->hist);
                free(k);
                return SFU_ENOMEM;
            }
        }
        if (sfu_idmap_put(&l->consumers, k->id, k)) {
            free(k->hist);
            free(k);
            return SFU_ENOMEM;
        }
        if (PUSH(p->consumers, p->n_consumers, p->cap_consumers, k) ||
            PUSH(t->consumers, t->n_consumers, t->cap_consumers, k)) {
            REMOVE(p->consumers, p->n_consumers, k);
            sfu_idmap_del(&l->consumers, k->id);
            free(k->hist);
            free(k);
            return SFU_ENOMEM;
        }
        if (p->kind == SFU_KIND_VIDEO && !k->paused)
            keyframe_for_producer(l, p);   /* a new video subscriber needs a key frame */
        return SFU_OK;
    }
    case SFU_CMD_CONSUMER_DEL: {
        struct consumer *k = sfu_idmap_get(&l->consumers, c->id);
        if (!k)
            return SFU_ENOENT;
        consumer_free(l, k);
        return SFU_OK;
    }
    case SFU_CMD_CONSUMER_SET_PAUSED: {
        struct consumer *k = sfu_idmap_get(&l->consumers, c->id);
        if (!k)
            return SFU_ENOENT;
        int paused = (c->flags & 1) ? 1 : 0;
        if (k->paused && !paused)
            k->resync = 1;
        k->paused = (uint8_t)paused;
        if (!paused && k->p && k->p->kind == SFU_KIND_VIDEO)
            keyframe_for_producer(l, k->p);   /* a resumed video consumer needs a key frame */
        return SFU_OK;
    }
    case SFU_CMD_CONSUMER_SET_PRODUCER: {
        struct consumer *k = sfu_idmap_get(&l->consumers, c->id);
        struct producer *np = sfu_idmap_get(&l->producers, c->producer_id);
        if (!k || !np)
            return SFU_ENOENT;
        if (k->target == np)
            return SFU_OK;
        if (k->target && k->target != k->p) {    /* an earlier switch not done yet: forget it */
            REMOVE(k->target->consumers, k->target->n_consumers, k);
            k->target = NULL;
        }
        if (k->p == np)
            return SFU_OK;
        if ((k->hist && producer_want_cache(np) != SFU_OK) ||
            PUSH(np->consumers, np->n_consumers, np->cap_consumers, k))
            return SFU_ENOMEM;
        if (!k->started || k->paused || np->kind != SFU_KIND_VIDEO || np->codec == SFU_CODEC_OTHER ||
            np->codec == SFU_CODEC_AV1) {
            consumer_switch(k, np);                 /* nothing to wait for */
        } else {
            k->target = np;                         /* switch at np's next key frame */
            keyframe_for_producer(l, np);
        }
        if (np->kind == SFU_KIND_VIDEO && !k->paused && !k->target)
            keyframe_for_producer(l, np);
        return SFU_OK;
    }
    case SFU_CMD_PEER_RESET: {
        if (c->peer >= l->cfg.n_workers || c->peer == l->cfg.worker_id)
            return SFU_EINVAL;
        if (l->ring_in[c->peer])
            sfu_ring_reset_reader(l->ring_in[c->peer]);
        return SFU_OK;
    }
    default:
        return SFU_EINVAL;
    }
}

static void cmd_service(sfu_loop_t *l)
{
    pthread_mutex_lock(&l->mu);
    if (l->pending && !l->pending_done) {
        l->pending_rc = cmd_apply(l, l->pending);
        l->pending_done = 1;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

int sfu_loop_command(sfu_loop_t *l, const sfu_cmd_t *cmd)
{
    pthread_mutex_lock(&l->mu);
    while (l->pending)
        pthread_cond_wait(&l->cv, &l->mu);
    int rc;
    if (!atomic_load(&l->running)) {
        rc = cmd_apply(l, cmd);
    } else {
        l->pending = cmd;
        l->pending_done = 0;
        uint64_t v = 1;
        ssize_t w = write(l->cmd_fd, &v, sizeof(v));
        (void)w;
        while (!l->pending_done && atomic_load(&l->running))
            pthread_cond_wait(&l->cv, &l->mu);
        rc = l->pending_done ? l->pending_rc : cmd_apply(l, cmd);
        l->pending = NULL;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int sfu_loop_send_raw(sfu_loop_t *l, uint32_t socket_id, const sfu_addr_t *to,
                      const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&l->mu);
    struct sock *s = sfu_idmap_get(&l->sockets, socket_id);
    int fd = s ? s->fd : -1;
    int rc = SFU_ENOENT;
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl;
        sfu_addr_to_sa(to, &ss, &sl);
        rc = sendto(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sl) < 0 ? SFU_EINVAL : SFU_OK;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* lifecycle */

uint64_t sfu_shm_ring_offset(uint32_t n, uint32_t slots, uint32_t from, uint32_t to)
{
    /* ring index: from * (n - 1) + (to < from ? to : to - 1) */
    uint64_t idx = (uint64_t)from * (n - 1) + (to < from ? to : to - 1);
    return idx * sfu_ring_bytes(slots);
}

uint64_t sfu_shm_bytes(uint32_t n, uint32_t slots)
{
    return n < 2 ? 0 : (uint64_t)n * (n - 1) * sfu_ring_bytes(slots);
}

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
    l->py_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->rx_batch = cfg->rx_batch && cfg->rx_batch <= RX_BATCH_MAX ? cfg->rx_batch : 32;
    l->pyq_cap = cfg->to_py_bytes >= 65536 ? cfg->to_py_bytes : 1u << 22;
    l->pyq = malloc(l->pyq_cap);
    l->rx_bufs = malloc(sizeof(*l->rx_bufs) * RX_BATCH_MAX);
    l->tx = malloc(sizeof(*l->tx) * TX_BATCH);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (l->epfd < 0 || l->cmd_fd < 0 || l->py_fd < 0 || !l->pyq || !l->rx_bufs || !l->tx ||
        sfu_idmap_init(&l->sockets, 16) || sfu_idmap_init(&l->transports, 64) ||
        sfu_idmap_init(&l->producers, 64) || sfu_idmap_init(&l->consumers, 256) ||
        sfu_idmap_init(&l->addrs, 64))
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
    for (uint32_t w = 0; w < cfg->n_workers; w++) {
        if (w == cfg->worker_id)
            continue;
        uint8_t *base = cfg->shm_base;
        l->ring_out[w] = sfu_ring_attach(base + sfu_shm_ring_offset(cfg->n_workers, cfg->ring_slots, cfg->worker_id, w), cfg->ring_slots);
        l->ring_in[w] = sfu_ring_attach(base + sfu_shm_ring_offset(cfg->n_workers, cfg->ring_slots, w, cfg->worker_id), cfg->ring_slots);
        if (!l->ring_out[w] || !l->ring_in[w])
            goto fail;
        /* a (re)started worker continues its outbound rings where they were
         * published and discards whatever was queued for its predecessor */
        sfu_ring_resume_writer(l->ring_out[w]);
        sfu_ring_reset_reader(l->ring_in[w]);
    }
    return l;
fail:
    sfu_loop_free(l);
    return NULL;
}

void sfu_loop_free(sfu_loop_t *l)
{
    if (!l)
        return;
    if (l->transports.keys) {
        for (uint32_t i = 0; i < l->transports.cap; i++) {
            uint64_t k = l->transports.keys[i];
            if (k && k != UINT64_MAX) {
                transport_free(l, l->transports.vals[i]);
                i = (uint32_t)-1;
            }
        }
    }
    if (l->producers.keys) {       /* remote producers */
        for (uint32_t i = 0; i < l->producers.cap; i++) {
            uint64_t k = l->producers.keys[i];
            if (k && k != UINT64_MAX) {
                producer_free(l, l->producers.vals[i]);
                i = (uint32_t)-1;
            }
        }
    }
    if (l->sockets.keys) {
        for (uint32_t i = 0; i < l->sockets.cap; i++) {
            uint64_t k = l->sockets.keys[i];
            if (k && k != UINT64_MAX) {
                struct sock *s = l->sockets.vals[i];
                close(s->fd);
                free(s);
            }
        }
    }
    sfu_idmap_free(&l->sockets);
    sfu_idmap_free(&l->transports);
    sfu_idmap_free(&l->producers);
    sfu_idmap_free(&l->consumers);
    sfu_idmap_free(&l->addrs);
    if (l->epfd >= 0) close(l->epfd);
    if (l->cmd_fd >= 0) close(l->cmd_fd);
    if (l->py_fd >= 0) close(l->py_fd);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->pyq);
    free(l->rx_bufs);
    free(l->tx);
    free(l);
}

void sfu_loop_stop(sfu_loop_t *l)
{
    atomic_store(&l->stop, 1);
    uint64_t v = 1;
    ssize_t w = write(l->cmd_fd, &v, sizeof(v));
    (void)w;
}

/* once a second: a receiver report per local producer to its publisher and a
 * sender report per consumer to its subscriber (RTCP transports only) */
static void send_reports(sfu_loop_t *l, uint64_t now)
{
    uint64_t unix_ns;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t ntp = sfu_ntp_from_unix_ns(unix_ns);
    for (uint32_t i = 0; i < l->transports.cap; i++) {
        uint64_t key = l->transports.keys[i];
        if (!key || key == UINT64_MAX)
            continue;
        struct transport *t = l->transports.vals[i];
        if (!(t->flags & SFU_TF_RTCP) || !t->has_remote || ((t->flags & SFU_TF_SRTP) && !t->srtp_out))
            continue;
        for (uint32_t j = 0; j < t->n_producers; j++) {
            struct producer *p = t->producers[j];
            uint8_t block[24];
            if (sfu_rx_report_block(&p->rx, p->ssrc, now, block) != 24)
                continue;
            struct tx_entry *e = tx_slot(l);
            transport_send_rtcp(l, t, e, sfu_rtcp_build_rr(e->buf, SFU_SSRC, block));
        }
        for (uint32_t j = 0; j < t->n_consumers; j++) {
            struct consumer *c = t->consumers[j];
            if (!c->stats.packets || c->paused || (uint32_t)c->stats.packets == c->sr_packets)
                continue;
            c->sr_packets = (uint32_t)c->stats.packets;
            uint64_t clock = (c->p && c->p->kind == SFU_KIND_AUDIO) ? 48000 : 90000;
            uint32_t rtp_ts = c->last_out_ts + (uint32_t)((now - c->last_out_ns) * clock / 1000000000ull);
            struct tx_entry *e = tx_slot(l);
            transport_send_rtcp(l, t, e, sfu_rtcp_build_sr(e->buf, c->out_ssrc, ntp, rtp_ts,
                                                           (uint32_t)c->stats.packets, (uint32_t)c->stats.bytes));
        }
    }
}

/* every 100 ms: transport-cc feedback to publishers that use it */
static void send_twcc(sfu_loop_t *l)
{
    for (uint32_t i = 0; i < l->transports.cap; i++) {
        uint64_t key = l->transports.keys[i];
        if (!key || key == UINT64_MAX)
            continue;
        struct transport *t = l->transports.vals[i];
        if (!t->twcc || !t->twcc->pending || !t->has_remote)
            continue;
        uint32_t media = t->n_producers ? t->producers[0]->ssrc : 0;
        for (int k = 0; k < 4 && t->twcc->pending; k++) {
            struct tx_entry *e = tx_slot(l);
            uint32_t len = sfu_twcc_build(t->twcc, SFU_SSRC, media, e->buf, SFU_MTU - SFU_SRTP_TRAILER_MAX);
            if (!len)
                break;
            transport_send_rtcp(l, t, e, len);
        }
    }
}

static int rings_prepare_sleep(sfu_loop_t *l)
{
    for (uint32_t w = 0; w < l->cfg.n_workers; w++)
        if (l->ring_in[w] && sfu_ring_prepare_sleep(l->ring_in[w])) {
            for (uint32_t v = 0; v < w; v++)
                if (l->ring_in[v])
                    sfu_ring_cancel_sleep(l->ring_in[v]);
            return 1;
        }
    return 0;
}

static void rings_cancel_sleep(sfu_loop_t *l)
{
    for (uint32_t w = 0; w < l->cfg.n_workers; w++)
        if (l->ring_in[w])
            sfu_ring_cancel_sleep(l->ring_in[w]);
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
            if (!rings_prepare_sleep(l)) {
                timeout = (int)(REPORT_INTERVAL_NS / 1000000ull);   /* wake for the reports */
                slept = 1;
            }
        }
        int n = epoll_wait(l->epfd, evs, 64, timeout);
        if (slept)
            rings_cancel_sleep(l);
        l->stats.iterations++;
        int work = 0;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == NULL) {                         /* command or stop */
                uint64_t v;
                ssize_t r = read(l->cmd_fd, &v, sizeof(v));
                (void)r;
                cmd_service(l);
                work = 1;
            } else if (p == (void *)&l->cfg.wake_fds[l->cfg.worker_id]) {
                uint64_t v;
                ssize_t r = read(l->cfg.wake_fds[l->cfg.worker_id], &v, sizeof(v));
                (void)r;
            } else {
                struct sock *s = p;
                /* drain a busy socket in a few batches, then let others run */
                for (int k = 0; k < 4; k++) {
                    int got = socket_receive(l, s);
                    work += got;
                    if (got < (int)l->rx_batch)
                        break;
                }
            }
        }
        work += rings_receive(l);
        uint64_t now = sfu_now_ns();
        if (now >= l->next_report_ns) {
            l->next_report_ns = now + REPORT_INTERVAL_NS;
            send_reports(l, now);
        }
        if (now >= l->next_twcc_ns) {
            l->next_twcc_ns = now + TWCC_INTERVAL_NS;
            send_twcc(l);
        }
        tx_flush(l);
        rings_publish(l);
        pyq_notify(l);
        idle = work ? 0 : idle + 1;
    }
    tx_flush(l);
    rings_publish(l);
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
    if (p)
        *out = p->stats;
    pthread_mutex_unlock(&l->mu);
    return p ? SFU_OK : SFU_ENOENT;
}

int sfu_loop_consumer_stats(sfu_loop_t *l, uint32_t id, sfu_stream_stats_t *out)
{
    pthread_mutex_lock(&l->mu);
    struct consumer *c = sfu_idmap_get(&l->consumers, id);
    if (c)
        *out = c->stats;
    pthread_mutex_unlock(&l->mu);
    return c ? SFU_OK : SFU_ENOENT;
}
