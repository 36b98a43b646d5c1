/* fuzz_nack_generator.c - the NACK generator (rtc/nack_generator.c) fed an
 * arbitrary sequence of arrivals, repairs and timer ticks.  Input: steps of
 * 4 bytes (op, sequence number little-endian, milliseconds to advance);
 * op % 3: 0 a packet, 1 a repaired (RTX) packet, 2 the NACK timer with an
 * RTT of op ms.  After every step the list is in the window behind the
 * newest, oldest first, and no missing sequence number is lost track of:
 * what the list loses is counted as recovered or lost. */
#include "../util/common.c"
#include "../rtc/nack_generator.c"
#include "fuzz_common.h"

static void check_list(const sfu_nack_generator_t *g)
{
    FUZZ_CHECK(g->n <= SFU_NACK_LIST_MAX);
    uint16_t prev = 0xFFFF;
    for (uint32_t i = 0; i < g->n; i++) {
        uint16_t behind = (uint16_t)(g->max_seq - g->missing[i].seq);
        FUZZ_CHECK(behind >= 1 && behind <= SFU_NACK_LIST_MAX);
        FUZZ_CHECK(i == 0 || behind < prev);     /* oldest first, no repeats */
        FUZZ_CHECK(g->missing[i].retries <= SFU_NACK_MAX_RETRIES);
        prev = behind;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sfu_nack_generator_t g;
    sfu_nack_generator_init(&g);
    uint64_t now = 1000000000ull;
    uint16_t out[SFU_NACK_LIST_MAX];
    for (size_t i = 0; i + 4 <= size; i += 4) {
        uint8_t op = data[i];
        uint16_t seq = (uint16_t)(data[i + 1] | (data[i + 2] << 8));
        now += (uint64_t)data[i + 3] * 1000000;
        uint32_t n = g.n;
        uint64_t lost = g.lost, recovered = g.recovered, requested = g.requested;
        if (op % 3 == 2) {
            uint32_t k = sfu_nack_generator_due(&g, now, (uint64_t)op * 1000000, out, 1 + op % SFU_NACK_LIST_MAX);
            FUZZ_CHECK(k <= 1 + op % SFU_NACK_LIST_MAX && k <= g.n && g.requested == requested + k);
            FUZZ_CHECK(g.recovered == recovered && n - g.n == g.lost - lost);
            for (uint32_t j = 0; j < k; j++) {         /* asked for: in the list, in its order */
                uint32_t at = 0;
                while (at < g.n && g.missing[at].seq != out[j])
                    at++;
                FUZZ_CHECK(at < g.n && g.missing[at].sent_ns == now);
            }
        } else {
            int repaired = op % 3 == 1, started = g.started;
            uint16_t max = g.max_seq;
            int rc = sfu_nack_generator_on_packet(&g, seq, repaired, now);
            FUZZ_CHECK(rc >= SFU_NACK_NEWEST && rc <= SFU_NACK_RESET);
            if (repaired)
                FUZZ_CHECK(g.max_seq == max && rc != SFU_NACK_NEWEST && rc != SFU_NACK_RESET);
            if (rc == SFU_NACK_FILLED)
                FUZZ_CHECK(g.n == n - 1 && g.recovered == recovered + 1 && g.lost == lost);
            else if (rc == SFU_NACK_OLD)
                FUZZ_CHECK(g.n == n && g.recovered == recovered && g.lost == lost && g.max_seq == max);
            else if (rc == SFU_NACK_RESET)
                FUZZ_CHECK(g.n == 0 && g.lost == lost + n && g.max_seq == seq);
            else if (!started)                          /* the first packet */
                FUZZ_CHECK(g.started && g.n == 0 && g.lost == 0 && g.max_seq == seq);
            else                                        /* the holes it opened are all accounted for */
                FUZZ_CHECK(g.max_seq == seq && g.recovered == recovered &&
                           (int64_t)g.n - n + (int64_t)(g.lost - lost) == (uint16_t)(seq - max) - 1);
            for (uint32_t j = 0; j < g.n; j++)
                FUZZ_CHECK(g.missing[j].seq != seq);   /* what arrived is not missing */
        }
        check_list(&g);
    }
    return 0;
}
