/* fuzz_tcp_framing.c - the RFC 4571 framer (csrc/loop/tcp_framing.c) on an
 * arbitrary byte stream cut into arbitrary reads: the first byte picks the
 * read sizes.  Every frame delivered is exactly what a one-pass reference
 * parse of the whole stream finds (in order, oversized and empty frames
 * skipped), nothing is delivered twice, and the counters add up.  Then the
 * frames go through a small send queue drained by partial writes and back
 * through a second receiver: what was queued comes out unchanged, what was
 * dropped is counted. */
#include "../loop/tcp_framing.c"
#include "sfu_tcp.h"
#include "fuzz_common.h"

#define MAX_FRAMES 4096

static sfu_tcp_rx_t rx, rx2;
static sfu_tcp_tx_t tx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 200000)
        return 0;
    uint32_t step_seed = data[0];
    const uint8_t *s = data + 1;
    size_t n = size - 1;

    /* reference: one pass over the whole stream */
    static uint32_t ref_off[MAX_FRAMES], ref_len[MAX_FRAMES];
    uint32_t nref = 0, oversized = 0, empty = 0;
    for (size_t i = 0; i + 2 <= n;) {
        uint32_t len = ((uint32_t)s[i] << 8) | s[i + 1];
        if (len == 0) { empty++; i += 2; continue; }
        if (i + 2 + len > n) {
            if (len > SFU_TCP_FRAME_MAX)
                oversized++;
            break;
        }
        if (len > SFU_TCP_FRAME_MAX) { oversized++; i += 2 + len; continue; }
        if (nref == MAX_FRAMES)
            return 0;
        ref_off[nref] = (uint32_t)i + 2;
        ref_len[nref] = len;
        nref++;
        i += 2 + len;
    }

    sfu_tcp_rx_init(&rx);
    sfu_tcp_tx_init(&tx, 3000 + step_seed * 16);
    uint32_t got = 0;
    size_t pos = 0;
    uint32_t step = step_seed;
    const uint8_t *f;
    uint32_t flen;
    while (pos < n) {
        step = step * 1103515245u + 12345u;
        uint32_t want = 1 + (step >> 16) % 3000;
        uint32_t room;
        uint8_t *dst = sfu_tcp_rx_space(&rx, &room);
        FUZZ_CHECK(room > 0 && room <= SFU_TCP_RX_BUF);
        if (want > room)
            want = room;
        if (want > n - pos)
            want = (uint32_t)(n - pos);
        memcpy(dst, s + pos, want);
        sfu_tcp_rx_commit(&rx, want);
        pos += want;
        while (sfu_tcp_rx_next(&rx, &f, &flen)) {
            FUZZ_CHECK(got < nref);
            FUZZ_CHECK(flen == ref_len[got] && memcmp(f, s + ref_off[got], flen) == 0);
            fuzz_touch(f, flen);
            sfu_tcp_tx_enqueue(&tx, f, flen);
            got++;
        }
    }
    FUZZ_CHECK(got == nref && rx.frames == nref && rx.empty == empty && rx.oversized == oversized);
    FUZZ_CHECK(rx.bytes == n);
    FUZZ_CHECK(tx.frames + tx.dropped == nref && tx.len <= tx.cap);

    /* drain the send queue with partial writes into a second receiver */
    sfu_tcp_rx_init(&rx2);
    uint32_t back = 0;
    const uint8_t *p;
    uint32_t avail;
    while ((avail = sfu_tcp_tx_peek(&tx, &p)) > 0) {
        step = step * 1103515245u + 12345u;
        uint32_t w = 1 + (step >> 16) % 2000;
        if (w > avail)
            w = avail;
        uint32_t took = sfu_tcp_rx_push(&rx2, p, w);
        sfu_tcp_tx_consume(&tx, took);
        while (sfu_tcp_rx_next(&rx2, &f, &flen))
            back++;
        FUZZ_CHECK(took > 0 || back > 0);
    }
    while (sfu_tcp_rx_next(&rx2, &f, &flen))
        back++;
    FUZZ_CHECK(back == tx.frames && tx.len == 0);
    return 0;
}
