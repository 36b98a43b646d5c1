/* tcp_framing.c - RFC 4571 framing of one ICE-TCP connection: receive
 * reassembly and the bounded send queue (see sfu_tcp.h).  Pure: no I/O. */
#include <string.h>
#include "sfu_tcp.h"

void sfu_tcp_rx_init(sfu_tcp_rx_t *rx)
{
    memset(rx, 0, sizeof(*rx));
}

/* discard what is left of an oversized frame from the bytes held */
static void rx_skip(sfu_tcp_rx_t *rx)
{
    uint32_t held = rx->len - rx->off;
    uint32_t n = rx->skip < held ? rx->skip : held;
    rx->off += n;
    rx->skip -= n;
}

static void rx_compact(sfu_tcp_rx_t *rx)
{
    if (rx->off == 0)
        return;
    memmove(rx->buf, rx->buf + rx->off, rx->len - rx->off);
    rx->len -= rx->off;
    rx->off = 0;
}

uint8_t *sfu_tcp_rx_space(sfu_tcp_rx_t *rx, uint32_t *room)
{
    rx_compact(rx);
    *room = SFU_TCP_RX_BUF - rx->len;
    return rx->buf + rx->len;
}

void sfu_tcp_rx_commit(sfu_tcp_rx_t *rx, uint32_t n)
{
    if (n > SFU_TCP_RX_BUF - rx->len)        /* a caller's bug: never past the buffer */
        n = SFU_TCP_RX_BUF - rx->len;
    rx->len += n;
    rx->bytes += n;
}

uint32_t sfu_tcp_rx_push(sfu_tcp_rx_t *rx, const uint8_t *data, uint32_t n)
{
    uint32_t room;
    uint8_t *p = sfu_tcp_rx_space(rx, &room);
    if (n > room)
        n = room;
    memcpy(p, data, n);
    sfu_tcp_rx_commit(rx, n);
    return n;
}

int sfu_tcp_rx_next(sfu_tcp_rx_t *rx, const uint8_t **frame, uint32_t *len)
{
    for (;;) {
        if (rx->skip) {
            rx_skip(rx);
            if (rx->skip)
                return 0;
        }
        uint32_t held = rx->len - rx->off;
        if (held < 2)
            return 0;
        const uint8_t *p = rx->buf + rx->off;
        uint32_t n = ((uint32_t)p[0] << 8) | p[1];
        if (n == 0) {
            rx->off += 2;
            rx->empty++;
            continue;
        }
        if (n > SFU_TCP_FRAME_MAX) {
            rx->off += 2;
            rx->skip = n;
            rx->oversized++;
            continue;
        }
        if (held < 2 + n)
            return 0;               /* SFU_TCP_RX_BUF holds a whole frame: the next read has room */
        *frame = p + 2;
        *len = n;
        rx->off += 2 + n;
        rx->frames++;
        return 1;
    }
}

void sfu_tcp_tx_init(sfu_tcp_tx_t *tx, uint32_t cap)
{
    tx->cap = (cap == 0 || cap > SFU_TCP_TX_BUF) ? SFU_TCP_TX_BUF : cap;
    tx->head = tx->len = 0;
    tx->frames = tx->dropped = tx->dropped_bytes = 0;
}

static void tx_put(sfu_tcp_tx_t *tx, const uint8_t *src, uint32_t n)
{
    uint32_t tail = (tx->head + tx->len) % tx->cap;
    uint32_t first = tx->cap - tail < n ? tx->cap - tail : n;
    memcpy(tx->buf + tail, src, first);
    memcpy(tx->buf, src + first, n - first);
    tx->len += n;
}

int sfu_tcp_tx_enqueue(sfu_tcp_tx_t *tx, const uint8_t *frame, uint32_t len)
{
    if (len > 0xffff || len + 2 > tx->cap - tx->len) {
        tx->dropped++;
        tx->dropped_bytes += len;
        return 0;
    }
    uint8_t prefix[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    tx_put(tx, prefix, 2);
    tx_put(tx, frame, len);
    tx->frames++;
    return 1;
}

uint32_t sfu_tcp_tx_peek(const sfu_tcp_tx_t *tx, const uint8_t **p)
{
    *p = tx->buf + tx->head;
    uint32_t to_end = tx->cap - tx->head;
    return tx->len < to_end ? tx->len : to_end;
}

void sfu_tcp_tx_consume(sfu_tcp_tx_t *tx, uint32_t n)
{
    if (n > tx->len)
        n = tx->len;
    tx->head = (tx->head + n) % tx->cap;
    tx->len -= n;
    if (tx->len == 0)
        tx->head = 0;
}
