/* seq_manager.c - the sequence number and timestamp rewriting of one
 * consumer (sfu_units.h), padding and left-out packets included.  Pure: the
 * caller passes the time. */
#include "util/sfu_common.h"
#include "sfu_units.h"

void sfu_seq_manager_init(sfu_seq_manager_t *m, uint16_t seq_start, uint32_t ts_offset)
{
    memset(m, 0, sizeof(*m));
    m->seq_start = seq_start;
    m->ts_off = ts_offset;
}

/* the offset changes from here on: inputs before `in` keep the offset there was */
static void bound_push(sfu_seq_manager_t *m, uint16_t in)
{
    if (m->n_bounds == SFU_SEQ_BOUNDARIES) {        /* the oldest is the least likely to matter */
        memmove(m->bound_in, m->bound_in + 1, sizeof(m->bound_in[0]) * (SFU_SEQ_BOUNDARIES - 1));
        memmove(m->bound_off, m->bound_off + 1, sizeof(m->bound_off[0]) * (SFU_SEQ_BOUNDARIES - 1));
        m->n_bounds--;
    }
    m->bound_in[m->n_bounds] = in;
    m->bound_off[m->n_bounds] = m->seq_off;
    m->n_bounds++;
}

/* the offset for input in_seq: the current one, or an earlier one for a late packet */
static uint16_t bound_offset(sfu_seq_manager_t *m, uint16_t in_seq)
{
    /* the oldest boundary no late packet can be from before any more goes */
    while (m->n_bounds) {
        uint16_t after = (uint16_t)(in_seq - m->bound_in[0]);
        if (after < SFU_SEQ_MAX_MISORDER || after >= 0x8000)
            break;
        memmove(m->bound_in, m->bound_in + 1, sizeof(m->bound_in[0]) * (m->n_bounds - 1u));
        memmove(m->bound_off, m->bound_off + 1, sizeof(m->bound_off[0]) * (m->n_bounds - 1u));
        m->n_bounds--;
    }
    uint16_t off = m->seq_off;
    for (int i = (int)m->n_bounds - 1; i >= 0; i--) {
        uint16_t before = (uint16_t)(m->bound_in[i] - in_seq);
        if (before == 0 || before > SFU_SEQ_MAX_MISORDER)
            break;                      /* at or after it: the offset after it holds */
        off = m->bound_off[i];
    }
    return off;
}

static inline void note_input(sfu_seq_manager_t *m, uint16_t in_seq)
{
    if (sfu_seq_newer(in_seq, m->max_in))
        m->max_in = in_seq;
}

void sfu_seq_manager_map(sfu_seq_manager_t *m, uint16_t in_seq, uint32_t in_ts, uint32_t clock_hz,
                         uint64_t now_ns, uint16_t *out_seq, uint32_t *out_ts)
{
    uint16_t off;
    if (SFU_UNLIKELY(!m->started)) {
        m->seq_off = (uint16_t)(m->seq_start - in_seq);
        m->started = 1;
        m->resync = 0;
        m->n_bounds = 0;
        m->max_in = in_seq;
    } else if (SFU_UNLIKELY(m->resync)) {
        /* continue right after the newest sequence number sent */
        m->seq_off = (uint16_t)(m->last_out_seq + 1 - in_seq);
        m->resync = 0;
        m->n_bounds = 0;
        m->max_in = in_seq;
    } else if (m->sent) {
        /* distance from the input sequence number of the newest packet sent */
        uint16_t d = (uint16_t)(in_seq - (uint16_t)(m->last_out_seq - m->seq_off));
        if (SFU_UNLIKELY(d >= SFU_SEQ_MAX_DROPOUT && d <= (uint16_t)(0x10000 - SFU_SEQ_MAX_MISORDER))) {
            m->seq_off = (uint16_t)(m->last_out_seq + 1 - in_seq);
            m->n_bounds = 0;
            m->max_in = in_seq;
        }
    }
    note_input(m, in_seq);
    off = SFU_UNLIKELY(m->n_bounds) ? bound_offset(m, in_seq) : m->seq_off;
    if (SFU_UNLIKELY(m->ts_resync)) {
        /* a new source: continue the timeline by the time elapsed */
        uint64_t elapsed = m->last_out_ns ? (now_ns - m->last_out_ns) * clock_hz / 1000000000ull : 0;
        m->ts_off = (uint32_t)(m->last_out_ts + (uint32_t)elapsed + 1 - in_ts);
        m->ts_resync = 0;
    }
    *out_seq = (uint16_t)(in_seq + off);
    *out_ts = in_ts + m->ts_off;
}

void sfu_seq_manager_sent(sfu_seq_manager_t *m, uint16_t out_seq, uint32_t out_ts, int marker, uint64_t now_ns)
{
    if (sfu_seq_newer(out_seq, m->last_out_seq) || m->sent == 0) {
        m->last_out_seq = out_seq;
        m->last_out_ts = out_ts;
        m->last_out_ns = now_ns;
        m->frame_end = marker ? 1 : 0;
    }
    m->sent++;
}

int sfu_seq_manager_pad(sfu_seq_manager_t *m, uint16_t *out_seq, uint32_t *out_ts)
{
    /* a pending resync is no obstacle: the next packet continues after the padding */
    if (!m->started || !m->sent || !m->frame_end)
        return 0;
    /* the input the next media packet should have: it keeps its place after the padding */
    uint16_t next_in = (uint16_t)(m->last_out_seq + 1 - m->seq_off);
    if (!m->n_bounds || m->bound_in[m->n_bounds - 1] != next_in)
        bound_push(m, next_in);
    m->seq_off++;
    m->last_out_seq++;
    m->padded++;
    *out_seq = m->last_out_seq;
    *out_ts = m->last_out_ts;
    return 1;
}

void sfu_seq_manager_drop(sfu_seq_manager_t *m, uint16_t in_seq)
{
    if (!m->started || m->resync) {
        m->dropped++;                   /* the next packet sent bases the numbers afresh anyway */
        return;
    }
    if (!sfu_seq_newer(in_seq, m->max_in)) {
        m->late_drops++;                /* the packets after it have their numbers already */
        return;
    }
    m->max_in = in_seq;
    if (m->n_bounds && m->bound_in[m->n_bounds - 1] == in_seq)
        m->bound_in[m->n_bounds - 1] = (uint16_t)(in_seq + 1);   /* a run of left-out packets: one boundary */
    else
        bound_push(m, (uint16_t)(in_seq + 1));
    m->seq_off--;
    m->dropped++;
}

void sfu_seq_manager_resync(sfu_seq_manager_t *m)
{
    m->resync = 1;
}

void sfu_seq_manager_source_switch(sfu_seq_manager_t *m)
{
    if (m->started) {              /* before the first packet there is nothing to continue */
        m->resync = 1;
        m->ts_resync = 1;
    }
}

uint32_t sfu_seq_manager_ts_at(const sfu_seq_manager_t *m, uint32_t clock_hz, uint64_t now_ns)
{
    return m->last_out_ts + (uint32_t)((now_ns - m->last_out_ns) * clock_hz / 1000000000ull);
}
