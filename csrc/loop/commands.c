/* commands.c - control from the worker's Python thread.
 *
 * sfu_loop_command() hands one command to the loop thread and blocks until
 * it is applied (or applies it directly while the loop is not running).
 * Each command is one small function; the table below says which object
 * its `id` names, and the dispatcher looks that object up (SFU_ENOENT when
 * there is none) before calling it.  sfu_loop_send_raw() writes a
 * control-plane datagram from the Python thread under the same mutex. */
#include <unistd.h>
#include "util/sfu_common.h"
#include "util/addr.h"
#include "loop/loop_internal.h"

enum target { BY_NONE, BY_SOCKET, BY_TRANSPORT, BY_PRODUCER, BY_CONSUMER };

static sfu_idmap_t *map_of(sfu_loop_t *l, enum target t)
{
    switch (t) {
    case BY_SOCKET: return &l->sockets;
    case BY_TRANSPORT: return &l->transports;
    case BY_PRODUCER: return &l->producers;
    case BY_CONSUMER: return &l->consumers;
    default: return NULL;
    }
}

/* ------------------------------------------------------------------ */
/* one function per command; `obj` is the object `c->id` names (NULL for BY_NONE) */

static int socket_open(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    return sock_open(l, c);
}

static int socket_send(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct sock *s = obj;
    if (s->kind != SFU_SOCK_TCP || !c->data || !c->data_len)
        return SFU_EINVAL;
    tcp_conn_send(l, s, c->data, c->data_len);   /* or dropped and counted, as a datagram would be */
    return SFU_OK;
}

static int socket_close(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    sock_close(l, obj);
    return SFU_OK;
}

static int transport_create_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct sock *s = sfu_idmap_get(&l->sockets, c->socket_id);
    return s ? transport_create(l, s, c) : SFU_ENOENT;
}

/* the socket a connect / add_addr names: an ICE-TCP connection, or (0) the transport's own */
static struct sock *path_socket(sfu_loop_t *l, struct transport *t, const sfu_cmd_t *c)
{
    return c->socket_id ? sfu_idmap_get(&l->sockets, c->socket_id) : t->sock;
}

static int transport_connect_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct sock *s = path_socket(l, obj, c);
    return s ? transport_connect(l, obj, s, &c->addr) : SFU_ENOENT;
}

static int transport_add_addr_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct sock *s = path_socket(l, obj, c);
    return s ? transport_add_addr(l, obj, s, &c->addr) : SFU_ENOENT;
}

static int transport_set_srtp_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    return transport_set_srtp(l, obj, c->recv_srtp, c->send_srtp);
}

static int transport_set_header_extensions_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    return transport_set_header_extensions(obj, &c->header_extensions);
}

static int transport_set_ice_ufrag_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    return transport_set_ice_ufrag(l, obj, c->ice_ufrag, c->ice_ufrag_len);
}

static int transport_set_wanted_bitrate_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    return transport_set_wanted_bitrate(l, obj, c->bitrate);
}

static int transport_close(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    transport_free(l, obj);
    return SFU_OK;
}

static int producer_create_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct transport *t = sfu_idmap_get(&l->transports, c->transport_id);
    return t ? producer_create(l, t, c) : SFU_ENOENT;
}

static int remote_producer_create_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    return remote_producer_create(l, c);
}

/* PRODUCER_CLOSE closes a local producer, REMOTE_PRODUCER_CLOSE a remote one */
static int producer_close(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct producer *p = obj;
    if ((c->type == SFU_CMD_PRODUCER_CLOSE) != (p->t != NULL))
        return SFU_EINVAL;
    producer_free(l, p);
    return SFU_OK;
}

static int producer_set_remote_workers_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct producer *p = obj;
    if (!p->t)
        return SFU_ENOENT;             /* only a local producer feeds other workers */
    producer_set_remote_workers(l, p, c->remote_workers);
    return SFU_OK;
}

static int producer_set_rtx_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct producer *p = obj;
    if (!p->t)
        return SFU_ENOENT;             /* only a local producer receives its publisher's RTX */
    return producer_set_rtx(p, c->rtx_ssrc, c->rtx_payload_type);
}

static int consumer_create_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct transport *t = sfu_idmap_get(&l->transports, c->transport_id);
    struct producer *p = sfu_idmap_get(&l->producers, c->producer_id);
    return t && p ? consumer_create(l, t, p, c) : SFU_ENOENT;
}

static int consumer_close(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    consumer_free(l, obj);
    return SFU_OK;
}

static int consumer_set_paused_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    consumer_set_paused(l, obj, c->paused);
    return SFU_OK;
}

static int consumer_set_producer_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    struct producer *np = sfu_idmap_get(&l->producers, c->producer_id);
    return np ? consumer_set_producer(l, obj, np) : SFU_ENOENT;
}

static int consumer_set_red_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    return consumer_set_red(obj, c->red_payload_type);
}

static int consumer_set_layers_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    return consumer_set_layers(obj, c->spatial_layer, c->temporal_layer);
}

static int consumer_set_rtx_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    consumer_set_rtx(obj, c->rtx_ssrc, c->rtx_payload_type);
    return SFU_OK;
}

static int consumer_request_key_frame_cmd(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    consumer_request_key_frame(l, obj);
    return SFU_OK;
}

static int peer_reset(sfu_loop_t *l, void *obj, const sfu_cmd_t *c)
{
    if (c->worker >= l->cfg.n_workers || c->worker == l->cfg.worker_id)
        return SFU_EINVAL;
    sfu_pipe_rings_reset_reader(&l->rings, c->worker);
    return SFU_OK;
}

typedef int (*cmd_fn)(sfu_loop_t *l, void *obj, const sfu_cmd_t *c);

static const struct {
    enum target target;
    cmd_fn fn;
} COMMANDS[] = {
    [SFU_CMD_SOCKET_OPEN] = {BY_NONE, socket_open},
    [SFU_CMD_SOCKET_CLOSE] = {BY_SOCKET, socket_close},
    [SFU_CMD_SOCKET_SEND] = {BY_SOCKET, socket_send},
    [SFU_CMD_TRANSPORT_CREATE] = {BY_NONE, transport_create_cmd},
    [SFU_CMD_TRANSPORT_CONNECT] = {BY_TRANSPORT, transport_connect_cmd},
    [SFU_CMD_TRANSPORT_ADD_ADDR] = {BY_TRANSPORT, transport_add_addr_cmd},
    [SFU_CMD_TRANSPORT_SET_SRTP] = {BY_TRANSPORT, transport_set_srtp_cmd},
    [SFU_CMD_TRANSPORT_SET_HEADER_EXTENSIONS] = {BY_TRANSPORT, transport_set_header_extensions_cmd},
    [SFU_CMD_TRANSPORT_SET_ICE_UFRAG] = {BY_TRANSPORT, transport_set_ice_ufrag_cmd},
    [SFU_CMD_TRANSPORT_SET_WANTED_BITRATE] = {BY_TRANSPORT, transport_set_wanted_bitrate_cmd},
    [SFU_CMD_TRANSPORT_CLOSE] = {BY_TRANSPORT, transport_close},
    [SFU_CMD_PRODUCER_CREATE] = {BY_NONE, producer_create_cmd},
    [SFU_CMD_PRODUCER_CLOSE] = {BY_PRODUCER, producer_close},
    [SFU_CMD_PRODUCER_SET_REMOTE_WORKERS] = {BY_PRODUCER, producer_set_remote_workers_cmd},
    [SFU_CMD_PRODUCER_SET_RTX] = {BY_PRODUCER, producer_set_rtx_cmd},
    [SFU_CMD_REMOTE_PRODUCER_CREATE] = {BY_NONE, remote_producer_create_cmd},
    [SFU_CMD_REMOTE_PRODUCER_CLOSE] = {BY_PRODUCER, producer_close},
    [SFU_CMD_CONSUMER_CREATE] = {BY_NONE, consumer_create_cmd},
    [SFU_CMD_CONSUMER_CLOSE] = {BY_CONSUMER, consumer_close},
    [SFU_CMD_CONSUMER_SET_PAUSED] = {BY_CONSUMER, consumer_set_paused_cmd},
    [SFU_CMD_CONSUMER_SET_PRODUCER] = {BY_CONSUMER, consumer_set_producer_cmd},
    [SFU_CMD_CONSUMER_REQUEST_KEY_FRAME] = {BY_CONSUMER, consumer_request_key_frame_cmd},
    [SFU_CMD_CONSUMER_SET_RTX] = {BY_CONSUMER, consumer_set_rtx_cmd},
    [SFU_CMD_CONSUMER_SET_RED] = {BY_CONSUMER, consumer_set_red_cmd},
    [SFU_CMD_CONSUMER_SET_LAYERS] = {BY_CONSUMER, consumer_set_layers_cmd},
    [SFU_CMD_PEER_RESET] = {BY_NONE, peer_reset},
};

/* loop thread, or the caller's thread while the loop does not run */
static int cmd_apply(sfu_loop_t *l, const sfu_cmd_t *c)
{
    l->stats.commands++;
    if (c->type >= sizeof(COMMANDS) / sizeof(COMMANDS[0]) || !COMMANDS[c->type].fn)
        return SFU_EINVAL;
    void *obj = NULL;
    sfu_idmap_t *m = map_of(l, COMMANDS[c->type].target);
    if (m && !(obj = sfu_idmap_get(m, c->id)))
        return SFU_ENOENT;
    l->in_command = 1;             /* the mutex is held: socket map changes need not take it */
    int rc = COMMANDS[c->type].fn(l, obj, c);
    l->in_command = 0;
    return rc;
}

/* ------------------------------------------------------------------ */
/* hand-off */

void loop_service_command(sfu_loop_t *l)
{
    pthread_mutex_lock(&l->mu);
    if (l->pending && !l->pending_done) {
        l->pending_rc = cmd_apply(l, l->pending);
        l->pending_done = 1;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

int sfu_loop_command(sfu_loop_t *l, const sfu_cmd_t *cmd)
{
    pthread_mutex_lock(&l->mu);
    while (l->pending)
        pthread_cond_wait(&l->cv, &l->mu);
    int rc;
    if (!atomic_load(&l->running)) {
        rc = cmd_apply(l, cmd);
    } else {
        l->pending = cmd;
        l->pending_done = 0;
        uint64_t v = 1;
        ssize_t w = write(l->cmd_fd, &v, sizeof(v));
        (void)w;
        while (!l->pending_done && atomic_load(&l->running))
            pthread_cond_wait(&l->cv, &l->mu);
        rc = l->pending_done ? l->pending_rc : cmd_apply(l, cmd);
        l->pending = NULL;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int sfu_loop_send_raw(sfu_loop_t *l, uint32_t socket_id, const sfu_addr_t *to,
                      const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&l->mu);
    struct sock *s = sfu_idmap_get(&l->sockets, socket_id);
    if (s && s->kind == SFU_SOCK_TCP) {   /* its send queue is the loop thread's: a command */
        pthread_mutex_unlock(&l->mu);
        sfu_cmd_t c = {.type = SFU_CMD_SOCKET_SEND, .id = socket_id, .data = buf, .data_len = (uint32_t)len};
        return len > 0xffff ? SFU_EINVAL : sfu_loop_command(l, &c);
    }
    if (s && to->family == AF_INET6 && s->v6)   /* an IPv6 peer: the socket's twin */
        s = s->v6;
    int fd = s ? s->fd : -1;
    int rc = SFU_ENOENT;
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl;
        sfu_addr_to_sa(to, &ss, &sl);
        rc = sendto(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sl) < 0 ? SFU_EINVAL : SFU_OK;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}
