/* ring.h - zero-copy side of the shared ring, used inside the loop only. */
#ifndef SFU_RING_H
#define SFU_RING_H
#include "sfu_api.h"

typedef struct sfu_ring_slot sfu_ring_slot_t;

/* producer: slot to fill in place, or NULL when full */
sfu_ring_slot_t *sfu_ring_reserve(sfu_ring_t *r);
uint8_t *sfu_ring_slot_data(sfu_ring_slot_t *s);
void sfu_ring_commit(sfu_ring_t *r, sfu_ring_slot_t *s, uint32_t kind, uint32_t pid,
                     uint64_t ts_ns, uint16_t len);
/* consumer: next valid slot (status 1), NULL with status 0 (empty) or
 * -reason (an invalid slot was skipped); call sfu_ring_advance() when done */
sfu_ring_slot_t *sfu_ring_peek(sfu_ring_t *r, int *status);
void sfu_ring_advance(sfu_ring_t *r);
void sfu_ring_slot_msg(const sfu_ring_slot_t *s, sfu_ring_msg_t *m, const uint8_t **data);
#endif
