/* seq_manager.c - the sequence number and timestamp rewriting of one
 * consumer (sfu_units.h), padding included.  Pure: the caller passes the
 * time. */
#include "util/sfu_common.h"
#include "sfu_units.h"

void sfu_seq_manager_init(sfu_seq_manager_t *m, uint16_t seq_start, uint32_t ts_offset)
{
    memset(m, 0, sizeof(*m));
    m->seq_start = seq_start;
    m->ts_off = ts_offset;
}

void sfu_seq_manager_map(sfu_seq_manager_t *m, uint16_t in_seq, uint32_t in_ts, uint32_t clock_hz,
                         uint64_t now_ns, uint16_t *out_seq, uint32_t *out_ts)
{
    uint16_t off;
    if (SFU_UNLIKELY(!m->started)) {
        m->seq_off = (uint16_t)(m->seq_start - in_seq);
        m->started = 1;
        m->resync = 0;
        m->pad_base = 0;
    } else if (SFU_UNLIKELY(m->resync)) {
        /* continue right after the newest sequence number sent */
        m->seq_off = (uint16_t)(m->last_out_seq + 1 - in_seq);
        m->resync = 0;
        m->pad_base = 0;
    } else if (m->sent) {
        /* distance from the input sequence number of the newest packet sent */
        uint16_t d = (uint16_t)(in_seq - (uint16_t)(m->last_out_seq - m->seq_off));
        if (SFU_UNLIKELY(d >= SFU_SEQ_MAX_DROPOUT && d <= (uint16_t)(0x10000 - SFU_SEQ_MAX_MISORDER))) {
            m->seq_off = (uint16_t)(m->last_out_seq + 1 - in_seq);
            m->pad_base = 0;
        }
    }
    off = m->seq_off;
    if (SFU_UNLIKELY(m->pad_base)) {
        uint16_t after = (uint16_t)(in_seq - m->pad_in);
        if (after >= (uint16_t)(0x10000 - SFU_SEQ_MAX_MISORDER))
            off = m->pad_prev_off;          /* from before the padding: its place is before it */
        else if (after >= SFU_SEQ_MAX_MISORDER && after < 0x8000)
            m->pad_base = 0;                /* nothing from before it can still come */
    }
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
    if (!m->pad_base || m->pad_in != next_in) {
        m->pad_in = next_in;
        m->pad_prev_off = m->seq_off;
        m->pad_base = 1;
    }
    m->seq_off++;
    m->last_out_seq++;
    m->padded++;
    *out_seq = m->last_out_seq;
    *out_ts = m->last_out_ts;
    return 1;
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
