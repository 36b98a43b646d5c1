/* gen.c - RTP load generator and counting sink (benchmarks, load tests).
 * Kept in C so that the generator, not the server, is never the bottleneck. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "util/sfu_common.h"
#include "sfu_packet.h"
#include "sfu_srtp.h"
#include "sfu_loadtest.h"
#include "util/addr.h"

#define GEN_BATCH_MAX 64
#define GEN_BUF (SFU_MTU + SFU_SRTP_TRAILER_MAX)

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000ull), .tv_nsec = (long)(t_ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

int64_t sfu_gen_rtp(int fd, const sfu_addr_t *to, uint32_t ssrc, uint8_t pt,
                    uint32_t size, int64_t count, double pps, uint32_t batch,
                    double max_seconds, void *srtp_session)
{
    if (size < 20 || size > SFU_MTU - (srtp_session ? 16 : 0) || batch == 0)
        return -1;
    if (batch > GEN_BATCH_MAX)
        batch = GEN_BATCH_MAX;
    static __thread uint8_t bufs[GEN_BATCH_MAX][GEN_BUF];
    struct mmsghdr msgs[GEN_BATCH_MAX];
    struct iovec iov[GEN_BATCH_MAX];
    struct sockaddr_storage ss;
    socklen_t sl;
    sfu_addr_to_sa(to, &ss, &sl);
    uint64_t start = sfu_now_ns();
    uint64_t deadline = start + (uint64_t)(max_seconds * 1e9);
    uint32_t ts_step = pps > 0 ? (uint32_t)(90000.0 / pps) + 1 : 3000;
    int64_t sent = 0;
    uint16_t seq = (uint16_t)(ssrc * 7919u);
    uint32_t ts = ssrc * 2654435761u;
    uint64_t k = 0;
    while ((count <= 0 || sent < count)) {
        uint64_t now = sfu_now_ns();
        if (now >= deadline)
            break;
        if (pps > 0) {
            uint64_t due = start + (uint64_t)((double)(k * batch) * 1e9 / pps);
            if (due > deadline)
                break;
            if (due > now)
                sleep_until(due);
        }
        uint32_t n = batch;
        if (count > 0 && (int64_t)n > count - sent)
            n = (uint32_t)(count - sent);
        uint64_t stamp = sfu_now_ns();
        for (uint32_t i = 0; i < n; i++) {
            uint8_t *b = bufs[i];
            b[0] = 0x80;
            b[1] = pt & 0x7f;
            sfu_wr16(b + 2, seq);
            sfu_wr32(b + 4, ts);
            sfu_wr32(b + 8, ssrc);
            /* payload: send time (ns) then a pattern derived from seq */
            sfu_wr32(b + 12, (uint32_t)(stamp >> 32));
            sfu_wr32(b + 16, (uint32_t)stamp);
            memset(b + 20, (uint8_t)seq, size - 20);
            int len = (int)size;
            if (srtp_session && sfu_srtp_protect(srtp_session, b, &len) != 0)
                return -2;
            iov[i].iov_base = b;
            iov[i].iov_len = (size_t)len;
            memset(&msgs[i].msg_hdr, 0, sizeof(struct msghdr));
            msgs[i].msg_hdr.msg_name = &ss;
            msgs[i].msg_hdr.msg_namelen = sl;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            seq++;
            ts += ts_step;
        }
        uint32_t done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, n - done, 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == ENOBUFS) {
                    usleep(50);
                    continue;
                }
                return sent;
            }
            done += (uint32_t)r;
        }
        sent += n;
        k++;
    }
    return sent;
}

int sfu_sink_run(const int *fds, int nfds, double seconds, int64_t count,
                 void *srtp_session, sfu_sink_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return SFU_EINVAL;
    for (int i = 0; i < nfds; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    static __thread uint8_t bufs[GEN_BATCH_MAX][GEN_BUF];
    struct mmsghdr msgs[GEN_BATCH_MAX];
    struct iovec iov[GEN_BATCH_MAX];
    uint64_t deadline = sfu_now_ns() + (uint64_t)(seconds * 1e9);
    struct epoll_event evs[64];
    while (count <= 0 || (int64_t)out->packets < count) {
        uint64_t now = sfu_now_ns();
        if (now >= deadline)
            break;
        int ms = (int)((deadline - now) / 1000000ull) + 1;
        int n = epoll_wait(ep, evs, 64, ms > 100 ? 100 : ms);
        for (int e = 0; e < n; e++) {
            for (;;) {
                for (int i = 0; i < GEN_BATCH_MAX; i++) {
                    iov[i].iov_base = bufs[i];
                    iov[i].iov_len = GEN_BUF;
                    memset(&msgs[i].msg_hdr, 0, sizeof(struct msghdr));
                    msgs[i].msg_hdr.msg_iov = &iov[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                }
                int r = recvmmsg(evs[e].data.fd, msgs, GEN_BATCH_MAX, MSG_DONTWAIT, NULL);
                if (r <= 0)
                    break;
                uint64_t t = sfu_now_ns();
                if (!out->first_ns)
                    out->first_ns = t;
                out->last_ns = t;
                for (int i = 0; i < r; i++) {
                    int len = (int)msgs[i].msg_len;
                    sfu_rtp_t rtp;
                    if (srtp_session && sfu_srtp_unprotect(srtp_session, bufs[i], &len) != 0) {
                        out->bad++;
                        continue;
                    }
                    if (sfu_rtp_parse(bufs[i], (size_t)len, &rtp) != SFU_DROP_NONE) {
                        out->bad++;
                        continue;
                    }
                    out->packets++;
                    out->bytes += (uint64_t)len;
                }
                if (r < GEN_BATCH_MAX)
                    break;
            }
        }
    }
    close(ep);
    return SFU_OK;
}
