/* loadtest.c - packet engine of `sfu load-test`.
 *
 * Senders: one thread paces any number of simulated publishers' streams
 * (VP8-like video frames split into packets, opus-like audio packets),
 * each frame leaving with one sendmmsg, plain RTP or SRTP.  Every payload
 * ends with a 12-byte trailer (magic + CLOCK_REALTIME send time) so the
 * receiving side can measure one-way latency.
 *
 * Receivers: one thread, epoll over every simulated peer's UDP socket,
 * recvmmsg batches.  STUN/DTLS go to a single-producer/single-consumer
 * queue Python drains; RTCP feedback (PLI/FIR) naming a local sender makes
 * that sender's next frame a key frame; RTP is checked per SSRC (loss,
 * duplicates, jitter, latency histogram, frames, key frames).
 *
 * Everything is bounded: fixed arrays, no allocation per packet, every
 * length checked (the receive path parses untrusted input). */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "util/sfu_common.h"
#include "sfu_packet.h"
#include "sfu_srtp.h"
#include "sfu_loadtest.h"
#include "util/addr.h"

#define LT_BATCH 64                               /* packets per sendmmsg / recvmmsg */
#define LT_BUF (SFU_MTU + SFU_SRTP_TRAILER_MAX)
#define LT_MAX_FRAME_PACKETS LT_BATCH
#define LT_LATE_NS 100000000ull                   /* behind by more: skip frames */
#define LT_SEEN_BITS 1024
#define LT_POLL_NS 50000000ull                    /* check stop/deadline at least this often */

_Static_assert(SFU_LT_STREAMS_MAX == sizeof(((sfu_lt_socket_t *)0)->streams) / sizeof(sfu_lt_stream_t),
               "streams[] size");
_Static_assert(SFU_LT_HIST_BUCKETS == sizeof(((sfu_lt_stream_t *)0)->hist) / sizeof(uint32_t), "hist size");
_Static_assert(LT_SEEN_BITS == 64 * sizeof(((sfu_lt_stream_t *)0)->seen) / sizeof(uint64_t), "seen size");
_Static_assert(SFU_LT_CTL_SLOTS == sizeof(((sfu_lt_ctl_queue_t *)0)->slots) / sizeof(sfu_lt_ctl_slot_t),
               "ctl slots");
_Static_assert((SFU_LT_CTL_SLOTS & (SFU_LT_CTL_SLOTS - 1)) == 0, "ctl slots power of two");
_Static_assert(SFU_LT_CTL_DATA == sizeof(((sfu_lt_ctl_slot_t *)0)->data), "ctl data");
_Static_assert(SFU_LT_EXT_STR == sizeof(((sfu_lt_sender_t *)0)->mid), "mid size");
_Static_assert(SFU_LT_EXT_STR == sizeof(((sfu_lt_sender_t *)0)->rid), "rid size");

static uint64_t real_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void wr64(uint8_t *p, uint64_t v)
{
    sfu_wr32(p, (uint32_t)(v >> 32));
    sfu_wr32(p + 4, (uint32_t)v);
}

static uint64_t rd64(const uint8_t *p)
{
    return ((uint64_t)sfu_rd32(p) << 32) | sfu_rd32(p + 4);
}

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000ull), .tv_nsec = (long)(t_ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static int stopped(volatile int *stop)
{
    return stop && __atomic_load_n(stop, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* senders                                                              */

static uint32_t frame_payload_bytes(const sfu_lt_sender_t *s)
{
    double b = (double)s->bitrate_bps / 8.0 / s->fps;
    return b < 1.0 ? 1u : (uint32_t)b;
}

static int sender_valid(const sfu_lt_sender_t *s)
{
    if (!(s->fps > 0.0 && s->fps <= 1000.0) || s->clock_rate == 0 || s->bitrate_bps == 0)
        return 0;
    if (s->kind != SFU_LT_AUDIO && s->kind != SFU_LT_VIDEO)
        return 0;
    if (s->codec > SFU_CODEC_AV1)
        return 0;
    if (s->pt > 127 || s->mid_ext_id > 14 || s->rid_ext_id > 14 || s->audio_level_ext_id > 14)
        return 0;
    if (s->audio_level_ext_id && (s->kind != SFU_LT_AUDIO || s->audio_level_ext_id == s->mid_ext_id ||
                                  s->audio_level_ext_id == s->rid_ext_id))
        return 0;
    if (s->mid_len > SFU_LT_EXT_STR || s->rid_len > SFU_LT_EXT_STR)
        return 0;
    if ((s->mid_ext_id && !s->mid_len) || (s->rid_ext_id && !s->rid_len))
        return 0;
    if (s->mid_ext_id && s->mid_ext_id == s->rid_ext_id)
        return 0;
    uint32_t fb = frame_payload_bytes(s);
    if (s->kind == SFU_LT_VIDEO && fb > (uint32_t)LT_MAX_FRAME_PACKETS * SFU_LT_MAX_PAYLOAD)
        return 0;
    if (s->kind == SFU_LT_AUDIO && fb > SFU_LT_MAX_PAYLOAD)
        return 0;
    return 1;
}

static void sender_init(sfu_lt_sender_t *s, uint64_t start, int i, int n)
{
    /* spread the senders' frame instants over one frame period */
    double period = 1e9 / s->fps;
    s->start_ns = start + (uint64_t)(period * (double)((i * 7919) % (n > 0 ? n : 1)) / (double)(n > 0 ? n : 1));
    s->frame_index = 0;
    s->next_due_ns = s->start_ns;
    s->last_key_ns = 0;
    uint32_t h = s->ssrc * 2654435761u;
    if (!s->seq)
        s->seq = (uint16_t)(h >> 16);
    if (!s->ts_base)
        s->ts_base = h ^ 0x5bd1e995u;
}

/* RTP header + one-byte extensions; returns header length */
static size_t write_header(const sfu_lt_sender_t *s, uint8_t *b, int marker, uint32_t ts)
{
    int ext = (s->mid_ext_id && s->mid_len) || (s->rid_ext_id && s->rid_len) || s->audio_level_ext_id;
    b[0] = (uint8_t)(0x80 | (ext ? 0x10 : 0));
    b[1] = (uint8_t)((s->pt & 0x7f) | (marker ? 0x80 : 0));
    sfu_wr16(b + 2, s->seq);
    sfu_wr32(b + 4, ts);
    sfu_wr32(b + 8, s->ssrc);
    if (!ext)
        return 12;
    uint8_t *e = b + 16;
    size_t n = 0;
    if (s->mid_ext_id && s->mid_len) {
        e[n++] = (uint8_t)((s->mid_ext_id << 4) | (s->mid_len - 1));
        memcpy(e + n, s->mid, s->mid_len);
        n += s->mid_len;
    }
    if (s->rid_ext_id && s->rid_len) {
        e[n++] = (uint8_t)((s->rid_ext_id << 4) | (s->rid_len - 1));
        memcpy(e + n, s->rid, s->rid_len);
        n += s->rid_len;
    }
    if (s->audio_level_ext_id) {       /* RFC 6464: V bit (voice) set when not silent */
        uint8_t level = __atomic_load_n(&s->audio_level, __ATOMIC_RELAXED) & 0x7f;
        e[n++] = (uint8_t)(s->audio_level_ext_id << 4);
        e[n++] = (uint8_t)((level < 127 ? 0x80 : 0) | level);
    }
    while (n % 4)
        e[n++] = 0;
    sfu_wr16(b + 12, 0xBEDE);
    sfu_wr16(b + 14, (uint16_t)(n / 4));
    return 16 + n;
}

/* the payload header of one packet of a video frame in codec `codec` (not VP8), as the
 * SFU reads it (key frames: csrc/rtp/codecs/): its length, at most 2 */
static size_t write_video_descriptor(uint8_t codec, uint8_t *p, int first, int last, int key)
{
    switch (codec) {
    case SFU_CODEC_VP9:
        /* |I|P|L|F|B|E|V|Z| (RFC 9628): no layers; P=0 on a key frame */
        p[0] = (uint8_t)((key ? 0 : 0x40) | (first ? 0x08 : 0) | (last ? 0x04 : 0));
        return 1;
    case SFU_CODEC_H264:
        /* FU-A (RFC 6184 5.8) of an IDR (5) or non-IDR (1) slice */
        p[0] = 0x7c;
        p[1] = (uint8_t)((first ? 0x80 : 0) | (last ? 0x40 : 0) | (key ? 5 : 1));
        return 2;
    default:
        /* AV1 aggregation header |Z|Y|W|W|N|-|-|-|: Z continues the previous packet's OBU, Y goes
         * on in the next, W=1 one OBU element, N starts a coded video sequence (a key frame) */
        p[0] = (uint8_t)((first ? 0 : 0x80) | (last ? 0 : 0x40) | 0x10 | (key && first ? 0x08 : 0));
        p[1] = first ? 0x32 : 0x00;      /* OBU header: a frame, has_size_field */
        return 2;
    }
}

/* payload of packet `i` of a frame; returns payload length */
static size_t write_payload(const sfu_lt_sender_t *s, uint8_t *p, size_t want, int first, int last, int key,
                            uint64_t real_ns)
{
    size_t o = 0;
    if (s->kind == SFU_LT_VIDEO && s->codec != SFU_CODEC_VP8 && s->codec != SFU_CODEC_OTHER) {
        if (want < 2 + SFU_LT_TRAILER)
            want = 2 + SFU_LT_TRAILER;
        o = write_video_descriptor(s->codec, p, first, last, key);
    } else if (s->kind == SFU_LT_VIDEO) {
        size_t need = 1 + (first ? (key ? 10 : 3) : 0) + SFU_LT_TRAILER;
        if (want < need)
            want = need;
        p[o++] = first ? 0x10 : 0x00;                 /* VP8 descriptor: S bit, PID 0 */
        if (first) {
            /* VP8 frame tag: bit0 = 0 key frame / 1 inter frame, show_frame */
            p[o++] = key ? 0x10 : 0x11;
            p[o++] = 0;
            p[o++] = 0;
            if (key) {
                p[o++] = 0x9d; p[o++] = 0x01; p[o++] = 0x2a;   /* start code */
                p[o++] = 0x80; p[o++] = 0x02;                  /* width 640 */
                p[o++] = 0xe0; p[o++] = 0x01;                  /* height 480 */
            }
        }
    } else {
        if (want < 1 + SFU_LT_TRAILER)
            want = 1 + SFU_LT_TRAILER;
        p[o++] = 0x78;                                /* opus-like TOC byte */
    }
    SFU_ASSERT(want <= SFU_LT_MAX_PAYLOAD && o + SFU_LT_TRAILER <= want);
    memset(p + o, 0, want - SFU_LT_TRAILER - o);
    sfu_wr32(p + want - SFU_LT_TRAILER, SFU_LT_MAGIC);
    wr64(p + want - 8, real_ns);
    return want;
}

/* Builds the current frame of s into bufs[i * LT_BUF]; lens[i], pay[i]
 * set.  Returns the number of packets and whether it is a key frame. */
static int build_frame(sfu_lt_sender_t *s, uint8_t *bufs, int *lens, uint32_t *pay, int *is_key)
{
    uint32_t total = frame_payload_bytes(s);
    int npk = 1;
    int key = 0;
    if (s->kind == SFU_LT_VIDEO) {
        npk = (int)((total + SFU_LT_MAX_PAYLOAD - 1) / SFU_LT_MAX_PAYLOAD);
        if (npk < 1)
            npk = 1;
        if (npk > LT_MAX_FRAME_PACKETS)
            npk = LT_MAX_FRAME_PACKETS;
        uint32_t req = __atomic_exchange_n(&s->keyframe_request, 0, __ATOMIC_ACQ_REL);
        uint64_t ival = (uint64_t)s->keyframe_interval_ms * 1000000ull;
        uint64_t half = (uint64_t)(5e8 / s->fps);
        key = s->frames == 0 || (ival && s->next_due_ns + half >= s->last_key_ns + ival);
        if (req && !key) {
            key = 1;
            s->keyframe_requests++;
        }
    }
    uint32_t ts = s->ts_base + (uint32_t)(uint64_t)((double)s->frame_index * (double)s->clock_rate / s->fps);
    uint64_t real_ns = real_now_ns();
    uint32_t per = total / (uint32_t)npk, rem = total % (uint32_t)npk;
    for (int i = 0; i < npk; i++) {
        uint8_t *b = bufs + (size_t)i * LT_BUF;
        size_t h = write_header(s, b, s->kind == SFU_LT_AUDIO || i == npk - 1, ts);
        size_t want = per + ((uint32_t)i < rem ? 1 : 0);
        if (want > SFU_LT_MAX_PAYLOAD)
            want = SFU_LT_MAX_PAYLOAD;
        size_t pl = write_payload(s, b + h, want, i == 0, i == npk - 1, key, real_ns);
        int len = (int)(h + pl);
        SFU_ASSERT(len <= SFU_MTU);
        if (s->srtp && sfu_srtp_protect(s->srtp, b, &len) != 0)
            len = -1;
        lens[i] = len;
        pay[i] = (uint32_t)pl;
        s->seq++;
    }
    *is_key = key;
    return npk;
}

static void frame_done(sfu_lt_sender_t *s, int key)
{
    s->frames++;
    if (key) {
        s->keyframes++;
        s->last_key_ns = s->next_due_ns;
    }
    s->frame_index++;
    s->next_due_ns = s->start_ns + (uint64_t)((double)s->frame_index * 1e9 / s->fps);
}

int sfu_lt_build_frame(sfu_lt_sender_t *s, uint8_t *bufs, int *lens, int cap)
{
    if (!s || !bufs || !lens || cap < 1 || !sender_valid(s))
        return -1;
    if (s->kind == SFU_LT_VIDEO) {
        uint32_t total = frame_payload_bytes(s);
        int npk = (int)((total + SFU_LT_MAX_PAYLOAD - 1) / SFU_LT_MAX_PAYLOAD);
        if (npk > cap)
            return -1;
    }
    if (s->frames == 0 && s->start_ns == 0)
        sender_init(s, sfu_now_ns(), 0, 1);
    uint32_t pay[LT_MAX_FRAME_PACKETS];
    int key = 0;
    int n = build_frame(s, bufs, lens, pay, &key);
    for (int i = 0; i < n; i++) {
        if (lens[i] < 0) {
            s->send_errors++;
            continue;
        }
        s->packets++;
        s->bytes += pay[i];
    }
    frame_done(s, key);
    return n;
}

static void send_frame(sfu_lt_sender_t *s, uint8_t *bufs, struct mmsghdr *msgs, struct iovec *iov,
                       const struct sockaddr_storage *ss, socklen_t sl)
{
    int lens[LT_MAX_FRAME_PACKETS];
    uint32_t pay[LT_MAX_FRAME_PACKETS];
    int key = 0;
    int n = build_frame(s, bufs, lens, pay, &key);
    int m = 0;
    uint32_t payload[LT_MAX_FRAME_PACKETS];
    for (int i = 0; i < n; i++) {
        if (lens[i] < 0) {
            s->send_errors++;
            continue;
        }
        iov[m].iov_base = bufs + (size_t)i * LT_BUF;
        iov[m].iov_len = (size_t)lens[i];
        memset(&msgs[m].msg_hdr, 0, sizeof(struct msghdr));
        msgs[m].msg_hdr.msg_name = (void *)ss;
        msgs[m].msg_hdr.msg_namelen = sl;
        msgs[m].msg_hdr.msg_iov = &iov[m];
        msgs[m].msg_hdr.msg_iovlen = 1;
        payload[m] = pay[i];
        m++;
    }
    int done = 0, retries = 0;
    while (done < m) {
        int r = sendmmsg(s->fd, msgs + done, (unsigned)(m - done), 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) && retries++ < 20) {
                usleep(50);
                continue;
            }
            s->send_errors++;        /* this datagram is lost; go on with the rest */
            done++;
            continue;
        }
        for (int i = done; i < done + r; i++) {
            s->packets++;
            s->bytes += payload[i];
        }
        done += r;
    }
    frame_done(s, key);
}

int sfu_lt_send_run(sfu_lt_sender_t *senders, int n, double seconds, volatile int *stop)
{
    if (n < 0 || (n > 0 && !senders) || !(seconds >= 0))
        return SFU_EINVAL;
    for (int i = 0; i < n; i++)
        if (!sender_valid(&senders[i]))
            return SFU_EINVAL;
    static __thread uint8_t bufs[LT_BATCH * LT_BUF];
    struct mmsghdr msgs[LT_BATCH];
    struct iovec iov[LT_BATCH];
    uint64_t start = sfu_now_ns();
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < n; i++)
        sender_init(&senders[i], start, i, n);
    while (!stopped(stop)) {
        uint64_t now = sfu_now_ns();
        if (now >= deadline)
            break;
        uint64_t next = deadline;
        for (int i = 0; i < n; i++) {
            sfu_lt_sender_t *s = &senders[i];
            if (s->next_due_ns <= now) {
                if (now - s->next_due_ns > LT_LATE_NS) {
                    /* fell behind: skip to the current frame (timestamps jump as after a stall) */
                    uint64_t k = (uint64_t)((double)(now - s->start_ns) * s->fps / 1e9);
                    if (k > s->frame_index) {
                        s->late_frames += k - s->frame_index;
                        s->frame_index = k;
                        s->next_due_ns = s->start_ns + (uint64_t)((double)k * 1e9 / s->fps);
                    }
                }
                struct sockaddr_storage ss;
                socklen_t sl;
                sfu_addr_to_sa(&s->dest, &ss, &sl);
                send_frame(s, bufs, msgs, iov, &ss, sl);
            }
            if (s->next_due_ns < next)
                next = s->next_due_ns;
        }
        now = sfu_now_ns();
        if (next > now) {
            if (next - now > LT_POLL_NS)
                next = now + LT_POLL_NS;
            sleep_until(next);
        }
    }
    return SFU_OK;
}

/* ------------------------------------------------------------------ */
/* control queue                                                        */

int sfu_lt_ctl_push(sfu_lt_ctl_queue_t *q, uint32_t sock, const sfu_addr_t *from, const uint8_t *data,
                    size_t len)
{
    if (!q || len > SFU_LT_CTL_DATA) {
        if (q)
            q->dropped++;
        return 0;
    }
    uint64_t h = q->head;
    uint64_t t = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
    if (h - t >= SFU_LT_CTL_SLOTS) {
        q->dropped++;
        return 0;
    }
    sfu_lt_ctl_slot_t *sl = &q->slots[h & (SFU_LT_CTL_SLOTS - 1)];
    sl->len = (uint32_t)len;
    sl->sock = sock;
    sl->ts_ns = sfu_now_ns();
    if (from)
        sl->from = *from;
    else
        memset(&sl->from, 0, sizeof(sl->from));
    memcpy(sl->data, data, len);
    __atomic_store_n(&q->head, h + 1, __ATOMIC_RELEASE);
    return 1;
}

int sfu_lt_ctl_pop(sfu_lt_ctl_queue_t *q, sfu_lt_ctl_slot_t *out)
{
    if (!q || !out)
        return 0;
    uint64_t t = q->tail;
    uint64_t h = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    if (t == h)
        return 0;
    const sfu_lt_ctl_slot_t *sl = &q->slots[t & (SFU_LT_CTL_SLOTS - 1)];
    uint32_t len = sl->len <= SFU_LT_CTL_DATA ? sl->len : SFU_LT_CTL_DATA;
    out->len = len;
    out->sock = sl->sock;
    out->ts_ns = sl->ts_ns;
    out->from = sl->from;
    memcpy(out->data, sl->data, len);
    __atomic_store_n(&q->tail, t + 1, __ATOMIC_RELEASE);
    return 1;
}

/* ------------------------------------------------------------------ */
/* receivers                                                            */

static void request_keyframe(sfu_lt_sender_t *senders, int nsenders, uint32_t ssrc)
{
    for (int i = 0; i < nsenders; i++)
        if (senders[i].ssrc == ssrc)
            __atomic_store_n(&senders[i].keyframe_request, 1, __ATOMIC_RELEASE);
}

static int handle_rtcp(sfu_lt_socket_t *s, const uint8_t *buf, size_t len, sfu_lt_sender_t *senders,
                       int nsenders)
{
    if (sfu_rtcp_validate(buf, len) != SFU_DROP_NONE)
        return 0;
    size_t off = 0;
    sfu_rtcp_t pkt;
    int r;
    while ((r = sfu_rtcp_next(buf, len, &off, &pkt)) == 1) {
        if (pkt.pt == 206 && pkt.count == 1) {                    /* PLI */
            s->plis++;
            request_keyframe(senders, nsenders, pkt.media_ssrc);
        } else if (pkt.pt == 206 && pkt.count == 4) {             /* FIR: FCI entries of 8 bytes */
            s->firs++;
            size_t end = (size_t)pkt.offset + pkt.len;
            for (size_t o = (size_t)pkt.offset + 12; o + 8 <= end; o += 8)
                request_keyframe(senders, nsenders, sfu_rd32(buf + o));
        } else if (pkt.pt == 205 && pkt.count == 1) {             /* generic NACK */
            s->nacks++;
        }
    }
    return r == 0;
}

static sfu_lt_stream_t *stream_for(sfu_lt_socket_t *s, const sfu_rtp_t *rtp)
{
    uint32_t n = s->n_streams;
    for (uint32_t i = 0; i < n && i < SFU_LT_STREAMS_MAX; i++)
        if (s->streams[i].ssrc == rtp->ssrc)
            return &s->streams[i];
    if (n >= SFU_LT_STREAMS_MAX)
        return NULL;
    sfu_lt_stream_t *st = &s->streams[n];
    memset(st, 0, sizeof(*st));
    st->ssrc = rtp->ssrc;
    st->pt = rtp->payload_type;
    st->clock_rate = s->clock_rates[rtp->payload_type & 0x7f];
    st->codec = s->codecs[rtp->payload_type & 0x7f];
    if (!st->clock_rate)
        st->clock_rate = 90000;
    st->first_ts = rtp->ts;
    /* start the extended sequence a cycle up so early reordering stays positive */
    st->base_ext_seq = st->max_ext_seq = 65536 + (int64_t)rtp->seq;
    st->lat_min_ns = UINT64_MAX;
    __atomic_store_n(&s->n_streams, n + 1, __ATOMIC_RELEASE);
    return st;
}

#define SEEN_BIT(st, e) ((st)->seen[((uint64_t)(e) % LT_SEEN_BITS) / 64])
#define SEEN_MASK(e) (1ull << ((uint64_t)(e) % 64))

static void account_rtp(sfu_lt_stream_t *st, const uint8_t *buf, const sfu_rtp_t *rtp, uint64_t mono_ns,
                        uint64_t real_ns)
{
    int first = st->packets == 0 && st->duplicates == 0;
    int64_t ext;
    if (first) {
        ext = st->max_ext_seq;
    } else {
        int16_t d = (int16_t)(uint16_t)(rtp->seq - (uint16_t)st->max_ext_seq);
        ext = st->max_ext_seq + d;
    }
    if (ext > st->max_ext_seq) {
        int64_t gap = ext - st->max_ext_seq;
        if (gap >= LT_SEEN_BITS) {
            memset(st->seen, 0, sizeof(st->seen));
        } else {
            for (int64_t e = st->max_ext_seq + 1; e <= ext; e++)
                SEEN_BIT(st, e) &= ~SEEN_MASK(e);
        }
        st->max_ext_seq = ext;
    } else if (!first && st->max_ext_seq - ext < LT_SEEN_BITS && (SEEN_BIT(st, ext) & SEEN_MASK(ext))) {
        st->duplicates++;
        return;
    }
    if (st->max_ext_seq - ext < LT_SEEN_BITS)
        SEEN_BIT(st, ext) |= SEEN_MASK(ext);
    if (ext < st->base_ext_seq)
        st->base_ext_seq = ext;

    st->packets++;
    st->bytes += rtp->payload_len;
    if (rtp->marker)
        st->frames++;
    if (st->clock_rate == 90000 && sfu_rtp_is_keyframe(buf, rtp, st->codec ? st->codec : SFU_CODEC_VP8) == 1)
        st->keyframes++;
    if (!st->first_ns)
        st->first_ns = mono_ns;
    st->last_ns = mono_ns;

    /* RFC 3550 6.4.1 / A.8: J += (|D| - J) / 16, in timestamp units */
    double arrival = (double)(mono_ns - st->first_ns) * (double)st->clock_rate / 1e9;
    double transit = arrival - (double)(int32_t)(rtp->ts - st->first_ts);
    if (st->packets > 1) {
        double d = fabs(transit - st->last_transit);
        st->jitter += (d - st->jitter) / 16.0;
    }
    st->last_transit = transit;

    if (rtp->payload_len >= SFU_LT_TRAILER) {
        const uint8_t *t = buf + rtp->header_len + rtp->payload_len - SFU_LT_TRAILER;
        if (sfu_rd32(t) == SFU_LT_MAGIC) {
            uint64_t sent = rd64(t + 4);
            uint64_t lat = real_ns > sent ? real_ns - sent : 0;
            st->lat_count++;
            st->lat_sum_ns += lat;
            if (lat < st->lat_min_ns)
                st->lat_min_ns = lat;
            if (lat > st->lat_max_ns)
                st->lat_max_ns = lat;
            uint64_t b = lat / (SFU_LT_HIST_US * 1000ull);
            if (b >= SFU_LT_HIST_BUCKETS)
                b = SFU_LT_HIST_BUCKETS - 1;
            st->hist[b]++;
        }
    }
}

static int recv_one(sfu_lt_socket_t *socks, int idx, uint8_t *buf, size_t len, const sfu_addr_t *from,
                    sfu_lt_sender_t *senders, int nsenders, sfu_lt_ctl_queue_t *ctl, uint64_t mono_ns,
                    uint64_t real_ns)
{
    sfu_lt_socket_t *s = &socks[idx];
    s->datagrams++;
    s->rx_bytes += len;
    if (len == 0 || len > LT_BUF) {
        s->bad++;
        return SFU_PKT_UNKNOWN;
    }
    uint8_t b0 = buf[0];
    if (b0 <= 3 || (b0 >= 20 && b0 <= 63)) {
        if (sfu_lt_ctl_push(ctl, (uint32_t)idx, from, buf, len))
            s->control++;
        else
            s->control_dropped++;
        return b0 <= 3 ? SFU_PKT_STUN : SFU_PKT_DTLS;
    }
    if (b0 < 128 || b0 > 191 || len < 12) {
        s->bad++;
        return SFU_PKT_UNKNOWN;
    }
    int ilen = (int)len;
    if (buf[1] >= 192 && buf[1] <= 223) {
        if (s->srtp && sfu_srtp_unprotect_rtcp(s->srtp, buf, &ilen) != 0) {
            s->bad++;
            return SFU_PKT_UNKNOWN;
        }
        if (ilen < 8 || (size_t)ilen > len || !handle_rtcp(s, buf, (size_t)ilen, senders, nsenders)) {
            s->bad++;
            return SFU_PKT_UNKNOWN;
        }
        s->rtcp++;
        return SFU_PKT_RTCP;
    }
    if (s->srtp && sfu_srtp_unprotect(s->srtp, buf, &ilen) != 0) {
        s->bad++;
        return SFU_PKT_UNKNOWN;
    }
    sfu_rtp_t rtp;
    if (ilen < 0 || (size_t)ilen > len || sfu_rtp_parse(buf, (size_t)ilen, &rtp) != SFU_DROP_NONE) {
        s->bad++;
        return SFU_PKT_UNKNOWN;
    }
    sfu_lt_stream_t *st = stream_for(s, &rtp);
    if (!st) {
        s->streams_full++;
        return SFU_PKT_RTP;
    }
    account_rtp(st, buf, &rtp, mono_ns, real_ns);
    return SFU_PKT_RTP;
}

int sfu_lt_recv_packet(sfu_lt_socket_t *socks, int idx, uint8_t *buf, size_t len, const sfu_addr_t *from,
                       sfu_lt_sender_t *senders, int nsenders, sfu_lt_ctl_queue_t *ctl)
{
    if (!socks || idx < 0 || (!buf && len))
        return SFU_PKT_UNKNOWN;
    return recv_one(socks, idx, buf, len, from, senders, senders ? nsenders : 0, ctl, sfu_now_ns(),
                    real_now_ns());
}

int sfu_lt_recv_run(sfu_lt_socket_t *socks, int n, sfu_lt_sender_t *senders, int nsenders,
                    sfu_lt_ctl_queue_t *ctl, double seconds, volatile int *stop)
{
    if (n < 0 || (n > 0 && !socks) || !(seconds >= 0))
        return SFU_EINVAL;
    if (!senders)
        nsenders = 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return SFU_ENOMEM;
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, socks[i].fd, &ev) != 0) {
            close(ep);
            return SFU_EINVAL;
        }
    }
    static __thread uint8_t bufs[LT_BATCH][LT_BUF];
    struct mmsghdr msgs[LT_BATCH];
    struct iovec iov[LT_BATCH];
    struct sockaddr_storage names[LT_BATCH];
    struct epoll_event evs[64];
    uint64_t deadline = sfu_now_ns() + (uint64_t)(seconds * 1e9);
    while (!stopped(stop)) {
        uint64_t now = sfu_now_ns();
        if (now >= deadline)
            break;
        uint64_t wait = deadline - now;
        if (wait > LT_POLL_NS)
            wait = LT_POLL_NS;
        int ne = epoll_wait(ep, evs, 64, (int)(wait / 1000000ull) + 1);
        for (int e = 0; e < ne; e++) {
            uint32_t idx = evs[e].data.u32;
            if (idx >= (uint32_t)n)
                continue;
            for (int round = 0; round < 8; round++) {
                for (int i = 0; i < LT_BATCH; i++) {
                    iov[i].iov_base = bufs[i];
                    iov[i].iov_len = LT_BUF;
                    memset(&msgs[i].msg_hdr, 0, sizeof(struct msghdr));
                    msgs[i].msg_hdr.msg_name = &names[i];
                    msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
                    msgs[i].msg_hdr.msg_iov = &iov[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                }
                int r = recvmmsg(socks[idx].fd, msgs, LT_BATCH, MSG_DONTWAIT, NULL);
                if (r <= 0)
                    break;
                uint64_t mono = sfu_now_ns(), real = real_now_ns();
                for (int i = 0; i < r; i++) {
                    sfu_addr_t from;
                    sfu_sa_to_addr(&names[i], &from);
                    size_t len = msgs[i].msg_len;
                    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
                        len = LT_BUF + 1;                   /* counted bad */
                    recv_one(socks, (int)idx, bufs[i], len, &from, senders, nsenders, ctl, mono, real);
                }
                if (r < LT_BATCH)
                    break;
            }
        }
    }
    close(ep);
    return SFU_OK;
}
