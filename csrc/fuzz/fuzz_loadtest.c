/* fuzz_loadtest.c - the load-test receiver (sfu_lt_recv_packet) on a
 * sequence of datagrams: input = { u16 little-endian length, bytes }*.
 * Plain RTP (no SRTP session): every parser on the path sees the bytes. */
#include "../util/common.c"
#include "../util/addr.c"
#include "../util/srtp.c"
#include "../rtp/rtp.c"
#include "../rtp/codecs/keyframe.c"
#include "../rtp/codecs/vp8.c"
#include "../rtp/codecs/vp9.c"
#include "../rtp/codecs/h264.c"
#include "../rtp/codecs/av1.c"
#include "../rtp/rtcp.c"
#include "../tools/loadtest.c"
#include "fuzz_common.h"

#define N_SENDERS 2

static sfu_lt_socket_t sock;
static sfu_lt_ctl_queue_t ctl;
static sfu_lt_ctl_slot_t slot;
static uint8_t buf[SFU_MTU + SFU_SRTP_TRAILER_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    memset(&sock, 0, sizeof sock);
    sock.clock_rates[111] = 48000;
    ctl.head = ctl.tail = ctl.dropped = 0;
    sfu_lt_sender_t senders[N_SENDERS];
    memset(senders, 0, sizeof senders);
    senders[0].ssrc = 0x11223344;
    senders[1].ssrc = 0x55667788;
    sfu_addr_t from = {.family = 2, .port = 5000, .ip = {127, 0, 0, 1}};

    size_t off = 0;
    uint64_t fed = 0;
    while (off + 2 <= size) {
        size_t n = (size_t)data[off] | ((size_t)data[off + 1] << 8);
        off += 2;
        if (n > size - off)
            n = size - off;
        memcpy(buf, data + off, n);
        int cls = sfu_lt_recv_packet(&sock, 0, buf, n, &from, senders, N_SENDERS, &ctl);
        FUZZ_CHECK(cls >= SFU_PKT_UNKNOWN && cls <= SFU_PKT_RTCP);
        off += n;
        fed++;
    }
    FUZZ_CHECK(sock.datagrams == fed);
    FUZZ_CHECK(sock.n_streams <= SFU_LT_STREAMS_MAX);
    uint64_t rtp = 0;
    for (uint32_t i = 0; i < sock.n_streams; i++) {
        const sfu_lt_stream_t *st = &sock.streams[i];
        rtp += st->packets + st->duplicates;
        FUZZ_CHECK(st->packets >= 1);
        FUZZ_CHECK(st->max_ext_seq >= st->base_ext_seq);
        FUZZ_CHECK(st->frames <= st->packets && st->keyframes <= st->packets);
        FUZZ_CHECK(st->lat_count <= st->packets);
        FUZZ_CHECK(st->clock_rate == (st->pt == 111 ? 48000u : 90000u));
        uint64_t h = 0;
        for (int b = 0; b < SFU_LT_HIST_BUCKETS; b++)
            h += st->hist[b];
        FUZZ_CHECK(h == st->lat_count);
        if (st->lat_count)
            FUZZ_CHECK(st->lat_min_ns <= st->lat_max_ns);
        for (uint32_t j = 0; j < i; j++)
            FUZZ_CHECK(sock.streams[j].ssrc != st->ssrc);
    }
    FUZZ_CHECK(rtp + sock.streams_full + sock.bad + sock.rtcp + sock.control + sock.control_dropped == fed);
    uint64_t popped = 0;
    while (sfu_lt_ctl_pop(&ctl, &slot)) {
        FUZZ_CHECK(slot.len <= SFU_LT_CTL_DATA && slot.sock == 0 && slot.from.port == 5000);
        FUZZ_CHECK(slot.len > 0 && (slot.data[0] <= 3 || (slot.data[0] >= 20 && slot.data[0] <= 63)));
        popped++;
    }
    FUZZ_CHECK(popped == sock.control);
    if (!sock.plis && !sock.firs)
        FUZZ_CHECK(!senders[0].keyframe_request && !senders[1].keyframe_request);
    return 0;
}
