/* control_queue.h - the loop -> Python byte queue (single producer: the
 * loop thread; single consumer: the worker's Python thread).  Records
 * (sfu_py_rec_t + data, each padded to 8 bytes) carry STUN/DTLS datagrams
 * and events; the eventfd is written only when Python waits, at most once
 * per batch (sfu_control_queue_notify). */
#ifndef SFU_CONTROL_QUEUE_H
#define SFU_CONTROL_QUEUE_H
#include <stdatomic.h>
#include "sfu_api.h"

typedef struct {
    uint8_t *buf;
    uint32_t cap;
    int fd;                        /* eventfd Python waits on */
    _Atomic uint64_t head;         /* bytes written (loop) */
    _Atomic uint64_t tail;         /* bytes consumed (Python) */
    _Atomic int waiting;           /* Python sleeps on fd */
    int dirty;                     /* records queued since the last notify */
    sfu_stats_t *stats;            /* to_py, SFU_DROP_TO_PY_FULL */
} sfu_control_queue_t;

/* cap: bytes (at least 64 KiB, else 4 MiB) */
int sfu_control_queue_init(sfu_control_queue_t *q, uint32_t cap, sfu_stats_t *stats);
void sfu_control_queue_free(sfu_control_queue_t *q);
/* queue one record with `len` bytes of data (dropped, counted, when full) */
void sfu_control_queue_push(sfu_control_queue_t *q, uint32_t kind, uint32_t socket_id, uint32_t transport_id,
                            uint32_t pkt_class, uint32_t arg, const sfu_addr_t *from, const uint8_t *data,
                            uint32_t len);
/* end of a loop iteration: wake Python if it waits and records arrived */
void sfu_control_queue_notify(sfu_control_queue_t *q);
#endif
