/* udp_io.h - the loop's datagram I/O: one receive batch (recvmmsg) and one
 * transmit batch (sendmmsg, with UDP GSO for runs of equal-size datagrams
 * to one destination).  No knowledge of what the datagrams are. */
#ifndef SFU_UDP_IO_H
#define SFU_UDP_IO_H
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include "sfu_api.h"

#define RX_BATCH_MAX 64
#define TX_BATCH 256
#define BUF_SIZE (SFU_MTU + SFU_SRTP_TRAILER_MAX + 8)

typedef struct {
    uint32_t batch;                /* datagrams per recvmmsg (<= RX_BATCH_MAX) */
    struct mmsghdr msgs[RX_BATCH_MAX];
    struct iovec iov[RX_BATCH_MAX];
    struct sockaddr_storage from[RX_BATCH_MAX];
    uint8_t (*bufs)[BUF_SIZE];
} sfu_udp_rx_t;

/* one datagram queued for sending; buf has room for the SRTP tag */
struct tx_entry {
    int fd;
    uint32_t len;
    struct sockaddr_storage to;
    socklen_t tolen;
    uint8_t buf[BUF_SIZE];
};

typedef struct {
    struct tx_entry *e;            /* TX_BATCH entries */
    uint32_t n;                    /* queued */
    struct mmsghdr msgs[TX_BATCH];
    struct iovec iov[TX_BATCH];
    uint16_t segs[TX_BATCH];       /* datagrams in each message (GSO) */
    uint8_t ctrl[TX_BATCH][CMSG_SPACE(sizeof(uint16_t))];
    int gso_off;                   /* the kernel refused UDP_SEGMENT: send datagrams one by one */
    sfu_stats_t *stats;            /* tx_* counters, SFU_DROP_SEND_FAILED */
} sfu_udp_tx_t;

int sfu_udp_rx_init(sfu_udp_rx_t *rx, uint32_t batch);
void sfu_udp_rx_free(sfu_udp_rx_t *rx);
/* one recvmmsg on fd: datagrams in bufs[i], lengths in msgs[i].msg_len,
 * senders in from[i]; returns how many (0 when none) */
int sfu_udp_rx_batch(sfu_udp_rx_t *rx, int fd);

int sfu_udp_tx_init(sfu_udp_tx_t *tx, sfu_stats_t *stats);
void sfu_udp_tx_free(sfu_udp_tx_t *tx);
/* send everything queued */
void sfu_udp_tx_flush(sfu_udp_tx_t *tx);

/* the entry to fill next (flushes a full batch first); it is queued only
 * by sfu_udp_tx_queue, so a caller may give up on it */
static inline struct tx_entry *sfu_udp_tx_slot(sfu_udp_tx_t *tx)
{
    if (tx->n == TX_BATCH)
        sfu_udp_tx_flush(tx);
    return &tx->e[tx->n];
}

static inline void sfu_udp_tx_queue(sfu_udp_tx_t *tx, struct tx_entry *e, int fd, uint32_t len,
                                    const struct sockaddr_storage *to, socklen_t tolen)
{
    e->fd = fd;
    e->len = len;
    memcpy(&e->to, to, tolen);
    e->tolen = tolen;
    tx->n++;
}
#endif
