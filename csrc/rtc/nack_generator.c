/* nack_generator.c - which sequence numbers of a publisher's stream are
 * missing and when to ask for them again (sfu_units.h).  Pure: arrival
 * and timer times are arguments.  The list is short (under 100), so
 * lookups are linear and removal a memmove, keeping it ordered oldest
 * first. */
#include "util/sfu_common.h"
#include "sfu_units.h"

_Static_assert(SFU_NACK_LIST_MAX == SFU_SEQ_MAX_MISORDER - 1, "the window is the seq manager's");
_Static_assert(SFU_NACK_LIST_MAX == sizeof(((sfu_nack_generator_t *)0)->missing) / sizeof(sfu_nack_entry_t),
               "list size");

void sfu_nack_generator_init(sfu_nack_generator_t *g)
{
    memset(g, 0, sizeof(*g));
}

static void restart(sfu_nack_generator_t *g, uint16_t seq)
{
    g->lost += g->n;               /* abandoned: a key frame is the way out */
    g->n = 0;
    g->max_seq = seq;
}

/* a missing one arrived: take it out of the list; 0 when it was not in it */
static int fill(sfu_nack_generator_t *g, uint16_t seq)
{
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->missing[i].seq != seq)
            continue;
        memmove(&g->missing[i], &g->missing[i + 1], (g->n - i - 1) * sizeof(g->missing[0]));
        g->n--;
        g->recovered++;
        return 1;
    }
    return 0;
}

/* the newest is now `seq`, `ahead` after the one before: what falls out of
 * the window is lost, the holes inside it are missing from now_ns */
static void advance(sfu_nack_generator_t *g, uint16_t seq, uint16_t ahead, uint64_t now_ns)
{
    uint32_t k = 0;
    while (k < g->n && (uint16_t)(seq - g->missing[k].seq) > SFU_NACK_LIST_MAX)
        k++;
    memmove(&g->missing[0], &g->missing[k], (g->n - k) * sizeof(g->missing[0]));
    g->n -= k;
    uint32_t holes = ahead - 1u;
    uint32_t kept = holes < SFU_NACK_LIST_MAX ? holes : SFU_NACK_LIST_MAX;
    g->lost += k + holes - kept;
    for (uint16_t s = (uint16_t)(seq - kept); s != seq; s++) {
        sfu_nack_entry_t *e = &g->missing[g->n++];
        memset(e, 0, sizeof(*e));
        e->seq = s;
        e->missing_ns = now_ns;
    }
    g->max_seq = seq;
}

int sfu_nack_generator_on_packet(sfu_nack_generator_t *g, uint16_t seq, int repaired, uint64_t now_ns)
{
    if (repaired)
        return fill(g, seq) ? SFU_NACK_FILLED : SFU_NACK_OLD;
    if (!g->started) {
        g->started = 1;
        g->max_seq = seq;
        return SFU_NACK_NEWEST;
    }
    uint16_t ahead = (uint16_t)(seq - g->max_seq);
    uint16_t behind = (uint16_t)(g->max_seq - seq);
    if (ahead == 0)
        return SFU_NACK_OLD;
    if (ahead < SFU_SEQ_MAX_DROPOUT) {
        advance(g, seq, ahead, now_ns);
        return SFU_NACK_NEWEST;
    }
    if (behind < SFU_SEQ_MAX_MISORDER)
        return fill(g, seq) ? SFU_NACK_FILLED : SFU_NACK_OLD;
    restart(g, seq);               /* a new sequence (publisher restart) */
    return SFU_NACK_RESET;
}

uint32_t sfu_nack_generator_due(sfu_nack_generator_t *g, uint64_t now_ns, uint64_t rtt_ns, uint16_t *out,
                                uint32_t cap)
{
    uint64_t interval = rtt_ns ? rtt_ns : SFU_NACK_DEFAULT_RTT_NS;
    if (interval < SFU_NACK_MIN_INTERVAL_NS)
        interval = SFU_NACK_MIN_INTERVAL_NS;
    uint32_t kept = 0, n = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        sfu_nack_entry_t e = g->missing[i];
        int waited = !e.sent_ns || now_ns - e.sent_ns >= interval;
        /* the last request gets its RTT to be answered before giving up */
        if ((e.retries >= SFU_NACK_MAX_RETRIES && waited) || now_ns - e.missing_ns >= SFU_NACK_MAX_AGE_NS) {
            g->lost++;
            continue;
        }
        if (waited && e.retries < SFU_NACK_MAX_RETRIES && n < cap) {
            out[n++] = e.seq;
            e.retries++;
            e.sent_ns = now_ns;
        }
        g->missing[kept++] = e;
    }
    g->n = kept;
    g->requested += n;
    return n;
}
