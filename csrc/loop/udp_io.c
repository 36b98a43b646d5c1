/* udp_io.c - receive and transmit batches of the loop (udp_io.h). */
#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include "util/sfu_common.h"
#include "loop/udp_io.h"

#define GSO_MAX_SEGMENTS 64        /* datagrams per UDP_SEGMENT send */
#define GSO_MAX_BYTES 60000
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

int sfu_udp_rx_init(sfu_udp_rx_t *rx, uint32_t batch)
{
    rx->batch = batch && batch <= RX_BATCH_MAX ? batch : 32;
    rx->bufs = malloc(sizeof(*rx->bufs) * RX_BATCH_MAX);
    return rx->bufs ? SFU_OK : SFU_ENOMEM;
}

void sfu_udp_rx_free(sfu_udp_rx_t *rx)
{
    free(rx->bufs);
    rx->bufs = NULL;
}

int sfu_udp_rx_batch(sfu_udp_rx_t *rx, int fd)
{
    uint32_t b = rx->batch;
    for (uint32_t i = 0; i < b; i++) {
        rx->iov[i].iov_base = rx->bufs[i];
        rx->iov[i].iov_len = SFU_MTU + 1;     /* one spare byte detects oversize */
        memset(&rx->msgs[i].msg_hdr, 0, sizeof(struct msghdr));
        rx->msgs[i].msg_hdr.msg_name = &rx->from[i];
        rx->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
        rx->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, rx->msgs, b, MSG_DONTWAIT, NULL);
    return n > 0 ? n : 0;
}

int sfu_udp_tx_init(sfu_udp_tx_t *tx, sfu_stats_t *stats)
{
    tx->e = malloc(sizeof(*tx->e) * TX_BATCH);
    tx->n = 0;
    tx->stats = stats;
    return tx->e ? SFU_OK : SFU_ENOMEM;
}

void sfu_udp_tx_free(sfu_udp_tx_t *tx)
{
    free(tx->e);
    tx->e = NULL;
}

/* Send the queued datagrams: runs of one socket go out with sendmmsg, and
 * consecutive datagrams of equal size to one destination (a consumer's share
 * of a batch) become a single message with UDP_SEGMENT (GSO), which costs the
 * kernel a fraction of separate datagrams. */
void sfu_udp_tx_flush(sfu_udp_tx_t *tx)
{
    sfu_stats_t *st = tx->stats;
    uint32_t i = 0;
    while (i < tx->n) {
        int fd = tx->e[i].fd;
        uint32_t nmsg = 0, j = i;
        while (j < tx->n && tx->e[j].fd == fd) {
            struct tx_entry *e = &tx->e[j];
            uint32_t k = j + 1, bytes = e->len;
            if (!tx->gso_off) {
                /* equal-size datagrams to the same address; the last may be shorter */
                while (k < tx->n && k - j < GSO_MAX_SEGMENTS && tx->e[k].fd == fd &&
                       tx->e[k].tolen == e->tolen && tx->e[k].len <= e->len &&
                       bytes + tx->e[k].len <= GSO_MAX_BYTES &&
                       memcmp(&tx->e[k].to, &e->to, e->tolen) == 0) {
                    bytes += tx->e[k].len;
                    k++;
                    if (tx->e[k - 1].len < e->len)
                        break;
                }
            }
            struct msghdr *h = &tx->msgs[nmsg].msg_hdr;
            memset(h, 0, sizeof(*h));
            h->msg_name = &e->to;
            h->msg_namelen = e->tolen;
            h->msg_iov = &tx->iov[j];
            h->msg_iovlen = k - j;
            for (uint32_t m = j; m < k; m++) {
                tx->iov[m].iov_base = tx->e[m].buf;
                tx->iov[m].iov_len = tx->e[m].len;
            }
            if (k - j > 1) {
                h->msg_control = tx->ctrl[nmsg];
                h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
                struct cmsghdr *cm = CMSG_FIRSTHDR(h);
                cm->cmsg_level = SOL_UDP;
                cm->cmsg_type = UDP_SEGMENT;
                cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                uint16_t seg = (uint16_t)e->len;
                memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
            }
            tx->segs[nmsg] = (uint16_t)(k - j);
            nmsg++;
            j = k;
        }
        uint32_t done = 0, sent = 0;   /* messages, and datagrams in them */
        int regroup = 0;
        while (done < nmsg) {
            int r = sendmmsg(fd, tx->msgs + done, nmsg - done, MSG_DONTWAIT);
            st->tx_batches++;
            if (r > 0) {
                for (int k = 0; k < r; k++) {
                    struct msghdr *h = &tx->msgs[done + k].msg_hdr;
                    for (size_t m = 0; m < h->msg_iovlen; m++)
                        st->tx_bytes += h->msg_iov[m].iov_len;
                    st->tx_packets += tx->segs[done + k];
                    if (tx->segs[done + k] > 1)
                        st->tx_gso += tx->segs[done + k];
                    sent += tx->segs[done + k];
                }
                done += (uint32_t)r;
            } else if (r < 0 && errno == EINTR) {
                continue;
            } else if (r < 0 && tx->segs[done] > 1 && !tx->gso_off &&
                       (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
                tx->gso_off = 1;            /* no GSO on this system: datagrams one by one from now on */
                regroup = 1;
                break;
            } else {
                /* skip the message that failed */
                st->drops[SFU_DROP_SEND_FAILED] += tx->segs[done];
                sent += tx->segs[done];
                done++;
            }
        }
        /* after a GSO refusal, rebuild the rest of this socket's run without it */
        i = regroup ? i + sent : j;
    }
    tx->n = 0;
}
