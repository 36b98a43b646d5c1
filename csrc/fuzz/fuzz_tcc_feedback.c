/* fuzz_tcc_feedback.c - the transport-cc feedback parser
 * (csrc/rtp/tcc_feedback.c) fed arbitrary bytes as one RTCP packet.
 * Input: byte 0 picks the caller's cap (1 + byte * 8 entries), the rest is
 * the packet.  A rejection must carry a named reason; an accepted packet
 * has exactly status_count entries with consecutive sequence numbers from
 * the base, statuses 0..2, `received` of them received, and offsets that
 * are the running sum of at most one delta per received entry.  An
 * accepted packet is then applied to a send history of 3000 packets (the
 * last ones sent at 1 ms steps): it may change only entries it covers, in
 * sequence order, and the windows over it stay within what was sent. */
#include "../util/common.c"
#include "../rtp/tcc_feedback.c"
#include "../rtc/tcc_send_history.c"
#include "fuzz_common.h"

#define CAP_MAX (1 + 255 * 8)

static sfu_tcc_feedback_packet_t pkts[CAP_MAX];
static sfu_tcc_packet_result_t results[CAP_MAX];
static sfu_tcc_send_history_t hist;

static void apply_to_history(const sfu_tcc_feedback_t *fb)
{
    sfu_tcc_send_history_init(&hist, 65000);
    for (int i = 0; i < 3000; i++)
        sfu_tcc_send_history_add(&hist, 100 + (uint32_t)i % 1200, (uint8_t)(i % 3), (int16_t)(i % 5 - 1),
                                 1000 * (int64_t)i);
    uint32_t n = sfu_tcc_send_history_on_feedback(&hist, fb, pkts, results, CAP_MAX);
    FUZZ_CHECK(n <= fb->status_count && hist.unknown + n <= fb->status_count);
    for (uint32_t i = 0; i < n; i++) {
        FUZZ_CHECK(results[i].seq >= hist.next_seq - SFU_TCC_HISTORY_SLOTS && results[i].seq < hist.next_seq);
        FUZZ_CHECK(i == 0 || results[i].seq > results[i - 1].seq);
        FUZZ_CHECK(results[i].send_us == 1000 * (results[i].seq - (65000 + 65536)));
    }
    uint32_t reported;
    double loss = sfu_tcc_send_history_loss(&hist, -1, &reported);
    FUZZ_CHECK(loss >= 0.0 && loss <= 1.0 && reported <= n);
    (void)sfu_tcc_send_history_acked_bps(&hist, 500000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t cap = 1 + (uint32_t)data[0] * 8;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    sfu_tcc_feedback_t fb;
    int r = sfu_tcc_feedback_parse(p, n, &fb, pkts, cap);
    FUZZ_CHECK(r >= 0 && r < SFU_TCC_FB__COUNT);
    FUZZ_CHECK(strcmp(sfu_tcc_feedback_reject_name(r), "invalid") != 0);
    if (r != SFU_TCC_FB_OK)
        return 0;
    FUZZ_CHECK(n >= 22 && fb.status_count >= 1 && fb.status_count <= cap);
    FUZZ_CHECK(fb.reference_time < (1u << 24));
    uint32_t received = 0;
    int64_t last = 0;
    for (uint32_t i = 0; i < fb.status_count; i++) {
        FUZZ_CHECK(pkts[i].seq == (uint16_t)(fb.base_seq + i));
        FUZZ_CHECK(pkts[i].status <= 2);
        if (pkts[i].status) {
            int64_t d = pkts[i].arrival_offset_us - last;
            if (pkts[i].status == 1)
                FUZZ_CHECK(d >= 0 && d <= 255 * SFU_TCC_DELTA_UNIT_US);
            else
                FUZZ_CHECK(d >= -32768 * SFU_TCC_DELTA_UNIT_US && d <= 32767 * SFU_TCC_DELTA_UNIT_US);
            last = pkts[i].arrival_offset_us;
            received++;
        } else {
            FUZZ_CHECK(pkts[i].arrival_offset_us == 0);
        }
    }
    FUZZ_CHECK(received == fb.received);
    /* one delta byte at least per received packet, inside the packet */
    FUZZ_CHECK(20 + 2 + (size_t)received <= n);
    apply_to_history(&fb);
    return 0;
}
