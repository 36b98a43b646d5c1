/* tcp_conn.h - ICE-TCP connections in the loop (RFC 6544 passive candidates):
 * the I/O driver around the RFC 4571 framing unit (sfu_tcp.h).
 *
 * The node's acceptor (sfu/worker/ice_tcp.py) accepts a connection, reads its
 * first frame (a STUN check naming one of our ICE ufrags) and hands the socket
 * and those bytes to the worker whose transport owns the ufrag
 * (SFU_CMD_SOCKET_OPEN, SFU_SOCK_TCP).  From then on the connection is a
 * socket of the loop like a UDP one: its frames go through the same routing
 * (demux, ICE to Python, SRTP, forwarding), and a transport whose ICE pair is
 * on it sends there.  A peer that stops reading fills its bounded send queue
 * and loses frames (SFU_DROP_TCP_QUEUE_FULL); it never holds the loop. */
#ifndef SFU_TCP_CONN_H
#define SFU_TCP_CONN_H
#include <sys/socket.h>
#include "sfu_api.h"
#include "sfu_tcp.h"

struct sock;
struct transport;

#define SFU_TCP_CLOSED_BY_US 0         /* SFU_REC_TCP_CLOSED arg */
#define SFU_TCP_CLOSED_BY_PEER 1
#define SFU_TCP_CLOSED_ERROR 2
#define SFU_TCP_UNBOUND_NS 10000000000ull  /* a connection no ICE check validated is closed after this */

struct tcp_conn {
    struct sockaddr_storage peer_sa;
    sfu_addr_t peer;
    struct transport *t;           /* the transport an ICE check on it validated (NULL before) */
    uint64_t opened_ns;
    uint32_t events;               /* epoll events registered */
    uint8_t dirty;                 /* in the loop's tcp_dirty list */
    uint64_t bad_counted;          /* rx.oversized + rx.empty already counted as drops */
    sfu_tcp_rx_t rx;
    sfu_tcp_tx_t *tx;              /* allocated with the first frame sent */
};

/* SFU_CMD_SOCKET_OPEN of a connection; the loop owns c->fd even when this fails */
int tcp_conn_open(sfu_loop_t *l, const sfu_cmd_t *c);
/* epoll said readable (or error / hang-up): read and route what arrived; -1 when it closed */
int tcp_conn_receive(sfu_loop_t *l, struct sock *s);
/* epoll said writable: write what is queued */
void tcp_conn_writable(sfu_loop_t *l, struct sock *s);
/* frame one packet into the send queue: 1, or 0 when dropped (counted) */
int tcp_conn_send(sfu_loop_t *l, struct sock *s, const uint8_t *buf, uint32_t len);
/* write what this iteration queued (end of each loop iteration) */
void tcp_conns_flush(sfu_loop_t *l);
/* close: its transport forgets it, Python hears SFU_REC_TCP_CLOSED; freed at the end of the
 * iteration (epoll may still hold an event for it) */
void tcp_conn_close(sfu_loop_t *l, struct sock *s, int why);
/* once a second: close connections no ICE check validated within SFU_TCP_UNBOUND_NS */
void tcp_conns_expire(sfu_loop_t *l, uint64_t now);
/* free the connections closed this iteration */
void tcp_conns_reap(sfu_loop_t *l);

struct transport *tcp_conn_transport(const struct sock *s);
int tcp_conn_is_peer(const struct sock *s, const sfu_addr_t *a);
void tcp_conn_bind(struct sock *s, struct transport *t);
#endif
