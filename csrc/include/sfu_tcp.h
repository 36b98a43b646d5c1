/*
 * sfu_tcp.h - RFC 4571 framing for ICE over TCP (RFC 6544): the pure part of
 * one TCP connection (csrc/loop/tcp_framing.c), no sockets, no clock.
 *
 * Receive: bytes read from the socket go into a bounded buffer and come out
 * as whole frames (a 16-bit big-endian length, then that many bytes: one
 * STUN, DTLS, RTP or RTCP packet).  A frame longer than SFU_TCP_FRAME_MAX is
 * skipped and counted, the connection kept; an empty frame is skipped.
 *
 * Send: whole frames are queued, with their length prefix, in a bounded
 * byte ring; a frame that does not fit whole is dropped and counted (a
 * stalled peer loses packets, it never holds the loop).  Writes may be
 * partial: peek gives the next contiguous bytes, consume what was written.
 *
 * Also part of the test-facing module sfu._units (tests/unit/c/).
 */
#ifndef SFU_TCP_H
#define SFU_TCP_H

#include "sfu_types.h"

#define SFU_TCP_FRAME_MAX 2048         /* the largest frame delivered */
#define SFU_TCP_RX_BUF 4100            /* two maximal frames with their prefixes */
#define SFU_TCP_TX_BUF 262144          /* the largest send queue (bytes) */

typedef struct {
    uint8_t buf[SFU_TCP_RX_BUF];
    uint32_t off;                      /* start of the bytes not yet delivered */
    uint32_t len;                      /* end of the bytes held */
    uint32_t skip;                     /* bytes of an oversized frame still to discard */
    uint64_t frames;                   /* frames delivered */
    uint64_t oversized;                /* frames skipped: longer than SFU_TCP_FRAME_MAX */
    uint64_t empty;                    /* zero-length frames skipped */
    uint64_t bytes;                    /* bytes committed */
} sfu_tcp_rx_t;

void sfu_tcp_rx_init(sfu_tcp_rx_t *rx);
/* where the next read goes and how much fits (always > 0 after sfu_tcp_rx_next returned 0) */
uint8_t *sfu_tcp_rx_space(sfu_tcp_rx_t *rx, uint32_t *room);
/* n bytes were read into the space */
void sfu_tcp_rx_commit(sfu_tcp_rx_t *rx, uint32_t n);
/* copy up to n bytes in (space + commit); how many were taken */
uint32_t sfu_tcp_rx_push(sfu_tcp_rx_t *rx, const uint8_t *data, uint32_t n);
/* the next whole frame: 1 with *frame (valid until the next call on rx) and *len; 0 when more
 * bytes are needed */
int sfu_tcp_rx_next(sfu_tcp_rx_t *rx, const uint8_t **frame, uint32_t *len);

typedef struct {
    uint8_t buf[SFU_TCP_TX_BUF];
    uint32_t cap;                      /* bytes this queue may hold (<= SFU_TCP_TX_BUF) */
    uint32_t head;                     /* first byte not yet written */
    uint32_t len;                      /* bytes queued */
    uint64_t frames;                   /* frames queued */
    uint64_t dropped;                  /* frames refused: the queue was full, or too long */
    uint64_t dropped_bytes;
} sfu_tcp_tx_t;

/* cap 0: SFU_TCP_TX_BUF */
void sfu_tcp_tx_init(sfu_tcp_tx_t *tx, uint32_t cap);
/* queue one frame with its length prefix: 1, or 0 (dropped, counted) when it does not fit whole
 * or is longer than 65535 bytes */
int sfu_tcp_tx_enqueue(sfu_tcp_tx_t *tx, const uint8_t *frame, uint32_t len);
/* the next contiguous queued bytes: how many, at *p (0: nothing queued) */
uint32_t sfu_tcp_tx_peek(const sfu_tcp_tx_t *tx, const uint8_t **p);
/* n bytes of them were written */
void sfu_tcp_tx_consume(sfu_tcp_tx_t *tx, uint32_t n);

#endif
