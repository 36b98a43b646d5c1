/* linkemu: a two-way link emulator between two TUN devices in two network namespaces.
 *
 *   linkemu --outer NAME --inner NAME --inner-ns /proc/PID/ns/net
 *           [--stats-ms 100] [--max-seconds 3600] [--seed N] [--no-rt]
 *
 * The OUTER device is created in the namespace the program starts in (the server's),
 * the INNER one in the namespace given by --inner-ns (a client's).  IP packets read
 * from INNER are shaped in direction "up" and written to OUTER; OUTER -> INNER is "down".
 * Each direction has, in this order:
 *   loss       random (loss=P) or Gilbert-Elliott (ge=p,r,loss_bad,loss_good), on arrival;
 *   bottleneck token bucket at rate=BIT/S (0: none) with burst=BYTES, in front of a FIFO
 *              of queue=BYTES (or queue_ms=MS at the rate), tail drop when full;
 *   delay      delay=MS plus jitter=MS (uniform +-jitter); packets keep their order
 *              unless reorder=1.
 * Rates count IP bytes (the TUN devices carry no link header).
 *
 * stdin, one command per line: "set up|down|both key=value ...", "stats", "quit".
 * Every command is answered with one line, "ok MONO_US ..." or "err ...".  The program
 * exits on EOF of stdin (so it never outlives its controller) or after --max-seconds.
 * stdout: "ready rt=0|1" once both devices exist, then every --stats-ms one line per
 * direction with cumulative counters:
 *   S MONO_US DIR in_pkts in_bytes out_pkts out_bytes loss_drops queue_drops
 *     other_drops queue_bytes max_sojourn_us
 * (max_sojourn_us: the longest time a packet waited in the bottleneck queue since the
 * previous line).  "stats" also reports how late the program itself was: the most a
 * packet was written after its delivery time, and how many were more than 1 ms late.  stdout is non-blocking: a line that does not fit the pipe is dropped
 * and counted (lost_lines in "stats"), so a slow reader never stalls the link.
 * Timers are one absolute CLOCK_MONOTONIC timerfd with 1 ns timer slack; the process
 * asks for SCHED_FIFO priority 1 (it needs little CPU, and must not wait behind it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_PKT 2048          /* the devices' MTU is 1500; anything longer is dropped */
#define POOL 8192             /* packets held per direction (queue + delay line) */
#define READ_BATCH 64         /* reads per device per wakeup, so neither side starves */
#define CMD_MAX 1024

typedef int64_t ns_t;

static ns_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ns_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* splitmix64: reproducible with --seed */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static double rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

struct pkt {
    ns_t arrive, deliver;
    uint64_t seq;
    uint16_t len;
    uint8_t data[MAX_PKT];
};

struct settings {
    double rate_bps;          /* 0: no bottleneck */
    double burst;             /* bytes */
    double queue_bytes;       /* 0: derived from queue_ms */
    double queue_ms;
    double delay_ms, jitter_ms;
    double loss;              /* random loss probability */
    int ge;                   /* Gilbert-Elliott on */
    double ge_p, ge_r, ge_bad, ge_good;
    int reorder;
};

struct dir {
    const char *name;
    int in_fd, out_fd;
    struct settings s;
    /* state */
    double tokens;
    ns_t tb_last;
    int ge_bad_state;
    int q[POOL], q_head, q_len;   /* bottleneck FIFO of pool indices */
    int64_t q_bytes;
    int heap[POOL], heap_len;     /* delay line: min-heap on (deliver, seq) */
    ns_t last_deliver;
    uint64_t seq;
    struct pkt *pool;
    int free_list[POOL], free_len;
    /* counters */
    uint64_t in_pkts, in_bytes, out_pkts, out_bytes, loss_drops, queue_drops, other_drops;
    uint64_t too_big, pool_full, write_errors;
    ns_t max_sojourn;
    ns_t max_late;                /* the latest a packet was written after its delivery time */
    uint64_t late_1ms;            /* packets written more than 1 ms late */
};

static struct dir dirs[2];
static uint64_t lost_lines;
static int stdout_fd = 1;

static void emit(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    if (write(stdout_fd, line, (size_t)n) != n)
        lost_lines++;
}

static double queue_limit(const struct dir *d) {
    if (d->s.queue_bytes > 0)
        return d->s.queue_bytes;
    double b = d->s.rate_bps / 8.0 * d->s.queue_ms / 1000.0;
    return b < 2 * 1500 ? 2 * 1500 : b;
}

/* ---- delay line (binary heap ordered by deliver time, then arrival order) */

static int heap_less(const struct dir *d, int a, int b) {
    const struct pkt *x = &d->pool[a], *y = &d->pool[b];
    return x->deliver < y->deliver || (x->deliver == y->deliver && x->seq < y->seq);
}

static void heap_push(struct dir *d, int idx) {
    int i = d->heap_len++;
    d->heap[i] = idx;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!heap_less(d, d->heap[i], d->heap[p]))
            break;
        int t = d->heap[i]; d->heap[i] = d->heap[p]; d->heap[p] = t;
        i = p;
    }
}

static int heap_pop(struct dir *d) {
    int top = d->heap[0];
    d->heap[0] = d->heap[--d->heap_len];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->heap_len && heap_less(d, d->heap[l], d->heap[m])) m = l;
        if (r < d->heap_len && heap_less(d, d->heap[r], d->heap[m])) m = r;
        if (m == i)
            break;
        int t = d->heap[i]; d->heap[i] = d->heap[m]; d->heap[m] = t;
        i = m;
    }
    return top;
}

/* ---- the pipeline */

static void to_delay_line(struct dir *d, int idx, ns_t now) {
    struct pkt *p = &d->pool[idx];
    double ms = d->s.delay_ms;
    if (d->s.jitter_ms > 0)
        ms += (2 * rnd() - 1) * d->s.jitter_ms;
    if (ms < 0)
        ms = 0;
    p->deliver = now + (ns_t)(ms * 1e6);
    if (!d->s.reorder && p->deliver < d->last_deliver)
        p->deliver = d->last_deliver;
    if (p->deliver > d->last_deliver)
        d->last_deliver = p->deliver;
    heap_push(d, idx);
}

static void refill(struct dir *d, ns_t now) {
    if (d->s.rate_bps > 0) {
        d->tokens += (double)(now - d->tb_last) * d->s.rate_bps / 8e9;
        if (d->tokens > d->s.burst)
            d->tokens = d->s.burst;
    }
    d->tb_last = now;
}

/* Move packets from the bottleneck queue to the delay line while tokens allow;
 * returns when the head packet may go next (0 if the queue is empty). */
static ns_t serve_queue(struct dir *d, ns_t now) {
    refill(d, now);
    while (d->q_len > 0) {
        int idx = d->q[d->q_head];
        struct pkt *p = &d->pool[idx];
        if (d->s.rate_bps > 0 && d->tokens < p->len)
            return now + 1 + (ns_t)((p->len - d->tokens) * 8e9 / d->s.rate_bps);
        if (d->s.rate_bps > 0)
            d->tokens -= p->len;
        d->q_head = (d->q_head + 1) % POOL;
        d->q_len--;
        d->q_bytes -= p->len;
        if (now - p->arrive > d->max_sojourn)
            d->max_sojourn = now - p->arrive;
        to_delay_line(d, idx, now);
    }
    return 0;
}

static int lost(struct dir *d) {
    if (d->s.ge) {
        if (d->ge_bad_state ? rnd() < d->s.ge_r : rnd() < d->s.ge_p)
            d->ge_bad_state = !d->ge_bad_state;
        return rnd() < (d->ge_bad_state ? d->s.ge_bad : d->s.ge_good);
    }
    return d->s.loss > 0 && rnd() < d->s.loss;
}

static void arrive(struct dir *d, const uint8_t *buf, ssize_t n, ns_t now) {
    d->in_pkts++;
    d->in_bytes += (uint64_t)n;
    if (n > MAX_PKT) {
        d->too_big++;
        d->other_drops++;
        return;
    }
    if (lost(d)) {
        d->loss_drops++;
        return;
    }
    if (d->free_len == 0) {
        d->pool_full++;
        d->other_drops++;
        return;
    }
    if (d->s.rate_bps > 0 && d->q_bytes + n > queue_limit(d)) {
        d->queue_drops++;
        return;
    }
    int idx = d->free_list[--d->free_len];
    struct pkt *p = &d->pool[idx];
    memcpy(p->data, buf, (size_t)n);
    p->len = (uint16_t)n;
    p->arrive = now;
    p->seq = d->seq++;
    d->q[(d->q_head + d->q_len) % POOL] = idx;
    d->q_len++;
    d->q_bytes += n;
}

static ns_t deliver_due(struct dir *d, ns_t now) {
    while (d->heap_len > 0) {
        int idx = d->heap[0];
        struct pkt *p = &d->pool[idx];
        if (p->deliver > now)
            return p->deliver;
        heap_pop(d);
        if (now - p->deliver > d->max_late)
            d->max_late = now - p->deliver;
        if (now - p->deliver > 1000000)
            d->late_1ms++;
        if (write(d->out_fd, p->data, p->len) == p->len) {
            d->out_pkts++;
            d->out_bytes += p->len;
        } else {
            d->write_errors++;
            d->other_drops++;
        }
        d->free_list[d->free_len++] = idx;
    }
    return 0;
}

static void read_device(struct dir *d, ns_t now) {
    static uint8_t buf[65536];
    for (int i = 0; i < READ_BATCH; i++) {
        ssize_t n = read(d->in_fd, buf, sizeof buf);
        if (n < 0)
            return;   /* EAGAIN: drained (other errors: retried on the next wakeup) */
        if (n == 0)
            continue;
        arrive(d, buf, n, now);
    }
}

/* ---- commands */

static void describe(const struct dir *d, char *out, size_t cap) {
    snprintf(out, cap, "%s rate=%.0f burst=%.0f queue=%.0f delay=%.3f jitter=%.3f loss=%.4f ge=%d,%.4f,%.4f,%.4f,%.4f reorder=%d",
             d->name, d->s.rate_bps, d->s.burst, d->s.rate_bps > 0 ? queue_limit(d) : 0.0, d->s.delay_ms,
             d->s.jitter_ms, d->s.loss, d->s.ge, d->s.ge_p, d->s.ge_r, d->s.ge_bad, d->s.ge_good, d->s.reorder);
}

static int parse_num(const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

/* applies one key=value to a copy of the settings; returns an error text or NULL */
static const char *apply(struct settings *s, char *kv) {
    char *eq = strchr(kv, '=');
    if (!eq)
        return "expected key=value";
    *eq = 0;
    const char *k = kv, *v = eq + 1;
    double x;
    if (!strcmp(k, "ge")) {
        double g[4] = {0, 0, 1, 0};
        char tmp[128];
        if (strlen(v) >= sizeof tmp)
            return "ge: too long";
        strcpy(tmp, v);
        int n = 0;
        for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (n == 4 || parse_num(t, 0, 1, &g[n]))
                return "ge: p,r[,loss_bad[,loss_good]] in [0,1]";
            n++;
        }
        if (n == 1 && g[0] == 0) { s->ge = 0; return NULL; }
        if (n < 2)
            return "ge: p,r[,loss_bad[,loss_good]] in [0,1]";
        s->ge = 1; s->ge_p = g[0]; s->ge_r = g[1]; s->ge_bad = g[2]; s->ge_good = g[3];
        return NULL;
    }
    if (!strcmp(k, "rate")) { if (parse_num(v, 0, 10e9, &x)) return "rate: bit/s >= 0"; s->rate_bps = x; }
    else if (!strcmp(k, "burst")) { if (parse_num(v, MAX_PKT, 1e9, &x)) return "burst: bytes >= 2048"; s->burst = x; }
    else if (!strcmp(k, "queue")) { if (parse_num(v, 0, 1e9, &x)) return "queue: bytes >= 0"; s->queue_bytes = x; }
    else if (!strcmp(k, "queue_ms")) { if (parse_num(v, 0, 60000, &x)) return "queue_ms: 0..60000"; s->queue_ms = x; s->queue_bytes = 0; }
    else if (!strcmp(k, "delay")) { if (parse_num(v, 0, 10000, &x)) return "delay: ms 0..10000"; s->delay_ms = x; }
    else if (!strcmp(k, "jitter")) { if (parse_num(v, 0, 10000, &x)) return "jitter: ms 0..10000"; s->jitter_ms = x; }
    else if (!strcmp(k, "loss")) { if (parse_num(v, 0, 1, &x)) return "loss: 0..1"; s->loss = x; }
    else if (!strcmp(k, "reorder")) { if (parse_num(v, 0, 1, &x)) return "reorder: 0|1"; s->reorder = x != 0; }
    else return "unknown key";
    return NULL;
}

static void command(char *line, ns_t now) {
    char *save = NULL, *word = strtok_r(line, " \t\r", &save);
    char a[512], b[512];
    if (!word)
        return;
    if (!strcmp(word, "quit")) {
        emit("ok %lld quit\n", (long long)(now / 1000));
        exit(0);
    }
    if (!strcmp(word, "stats")) {
        for (int i = 0; i < 2; i++) {
            struct dir *d = &dirs[i];
            emit("ok %lld stats %s too_big=%llu pool_full=%llu write_errors=%llu queued=%d delayed=%d lost_lines=%llu "
                 "late_max_us=%lld late_1ms=%llu\n",
                 (long long)(now / 1000), d->name, (unsigned long long)d->too_big,
                 (unsigned long long)d->pool_full, (unsigned long long)d->write_errors, d->q_len, d->heap_len,
                 (unsigned long long)lost_lines, (long long)(d->max_late / 1000), (unsigned long long)d->late_1ms);
        }
        return;
    }
    if (strcmp(word, "set")) {
        emit("err unknown command %.40s\n", word);
        return;
    }
    const char *which = strtok_r(NULL, " \t\r", &save);
    int lo, hi;
    if (!which) { emit("err set: direction up|down|both\n"); return; }
    if (!strcmp(which, "up")) lo = hi = 0;
    else if (!strcmp(which, "down")) lo = hi = 1;
    else if (!strcmp(which, "both")) { lo = 0; hi = 1; }
    else { emit("err set: direction up|down|both\n"); return; }
    struct settings next[2] = {dirs[0].s, dirs[1].s};
    for (char *kv = strtok_r(NULL, " \t\r", &save); kv; kv = strtok_r(NULL, " \t\r", &save)) {
        for (int i = lo; i <= hi; i++) {
            char copy[CMD_MAX];
            snprintf(copy, sizeof copy, "%s", kv);
            const char *e = apply(&next[i], copy);
            if (e) { emit("err %s\n", e); return; }
        }
    }
    for (int i = lo; i <= hi; i++) {
        struct dir *d = &dirs[i];
        refill(d, now);             /* tokens earned so far at the old rate */
        d->s = next[i];
        if (d->tokens > d->s.burst)
            d->tokens = d->s.burst;
    }
    describe(&dirs[0], a, sizeof a);
    describe(&dirs[1], b, sizeof b);
    emit("ok %lld set %s | %s\n", (long long)(now / 1000), a, b);
}

static void read_commands(ns_t now) {
    static char buf[CMD_MAX];
    static size_t len;
    static int discarding;
    ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
    if (n == 0)
        exit(0);             /* controller gone */
    if (n < 0)
        return;
    len += (size_t)n;
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        if (!nl) {
            if (len == sizeof buf - 1) {   /* longer than any command: drop it */
                if (!discarding)
                    emit("err command too long\n");
                discarding = 1;
                len = 0;
            }
            return;
        }
        *nl = 0;
        if (!discarding)
            command(buf, now);
        discarding = 0;
        size_t used = (size_t)(nl - buf) + 1;
        memmove(buf, nl + 1, len - used);
        len -= used;
    }
}

/* ---- set-up */

static int open_tun(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { perror("open /dev/net/tun"); exit(2); }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (strlen(name) >= IFNAMSIZ) { fprintf(stderr, "device name too long: %s\n", name); exit(2); }
    strcpy(ifr.ifr_name, name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(2); }
    return fd;
}

static void init_dir(struct dir *d, const char *name, int in_fd, int out_fd) {
    memset(d, 0, sizeof *d);
    d->name = name;
    d->in_fd = in_fd;
    d->out_fd = out_fd;
    d->s.burst = 3000;
    d->s.queue_ms = 100;
    d->s.ge_bad = 1;
    d->pool = calloc(POOL, sizeof(struct pkt));
    if (!d->pool) { perror("calloc"); exit(2); }
    for (int i = 0; i < POOL; i++)
        d->free_list[i] = POOL - 1 - i;
    d->free_len = POOL;
    d->tb_last = now_ns();
}

static void usage(void) {
    fprintf(stderr, "usage: linkemu --outer NAME --inner NAME --inner-ns PATH [--stats-ms N] "
                    "[--max-seconds S] [--seed N] [--no-rt]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *outer = NULL, *inner = NULL, *inner_ns = NULL;
    double stats_ms = 100, max_seconds = 3600;
    int rt = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-rt")) { rt = 0; continue; }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--outer")) outer = v;
        else if (!strcmp(a, "--inner")) inner = v;
        else if (!strcmp(a, "--inner-ns")) inner_ns = v;
        else if (!strcmp(a, "--stats-ms")) { if (parse_num(v, 1, 60000, &stats_ms)) usage(); }
        else if (!strcmp(a, "--max-seconds")) { if (parse_num(v, 1, 86400, &max_seconds)) usage(); }
        else if (!strcmp(a, "--seed")) rng_state = strtoull(v, NULL, 0);
        else usage();
    }
    if (!outer || !inner || !inner_ns)
        usage();
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    prctl(PR_SET_TIMERSLACK, 1UL);
    int outer_fd = open_tun(outer);
    int ns = open(inner_ns, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) { perror(inner_ns); exit(2); }
    close(ns);
    int inner_fd = open_tun(inner);
    init_dir(&dirs[0], "up", inner_fd, outer_fd);
    init_dir(&dirs[1], "down", outer_fd, inner_fd);
    if (rt) {
        struct sched_param sp = {.sched_priority = 1};
        rt = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
    }
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    fcntl(stdout_fd, F_SETFL, fcntl(stdout_fd, F_GETFL) | O_NONBLOCK);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    int fds[4] = {0, inner_fd, outer_fd, tfd};
    for (int i = 0; i < 4; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) { perror("epoll_ctl"); exit(2); }
    }
    emit("ready rt=%d\n", rt);
    ns_t start = now_ns(), stats_every = (ns_t)(stats_ms * 1e6), next_stats = start + stats_every;
    ns_t end = start + (ns_t)(max_seconds * 1e9);
    for (;;) {
        ns_t now = now_ns();
        if (now >= end)
            return 0;
        ns_t next = next_stats < end ? next_stats : end;
        for (int i = 0; i < 2; i++) {
            struct dir *d = &dirs[i];
            ns_t q = serve_queue(d, now), t = deliver_due(d, now);
            if (q && q < next) next = q;
            if (t && t < next) next = t;
        }
        if (now >= next_stats) {
            for (int i = 0; i < 2; i++) {
                struct dir *d = &dirs[i];
                emit("S %lld %s %llu %llu %llu %llu %llu %llu %llu %lld %lld\n", (long long)(now / 1000), d->name,
                     (unsigned long long)d->in_pkts, (unsigned long long)d->in_bytes,
                     (unsigned long long)d->out_pkts, (unsigned long long)d->out_bytes,
                     (unsigned long long)d->loss_drops, (unsigned long long)d->queue_drops,
                     (unsigned long long)d->other_drops, (long long)d->q_bytes,
                     (long long)(d->max_sojourn / 1000));
                d->max_sojourn = 0;
            }
            while (next_stats <= now)
                next_stats += stats_every;
            continue;       /* recompute the next deadline */
        }
        struct itimerspec its = {.it_value = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000}};
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        struct epoll_event evs[4];
        int n = epoll_wait(ep, evs, 4, -1);
        now = now_ns();
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == tfd) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0) { /* spurious: nothing due */ }
            } else if (fd == 0) {
                read_commands(now);
            } else {
                read_device(fd == inner_fd ? &dirs[0] : &dirs[1], now);
            }
        }
    }
}
