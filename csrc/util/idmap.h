/* idmap.h - open-addressing hash map from a 64-bit key to a pointer.
 * Used by the loop for id -> object and (socket, address) -> transport. */
#ifndef SFU_IDMAP_H
#define SFU_IDMAP_H
#include <stdint.h>

typedef struct {
    uint64_t *keys;            /* key + 1; 0 = empty, UINT64_MAX = tombstone */
    void **vals;
    uint32_t cap;              /* power of two */
    uint32_t used;             /* live + tombstones */
    uint32_t live;
} sfu_idmap_t;

int sfu_idmap_init(sfu_idmap_t *m, uint32_t cap);
void sfu_idmap_free(sfu_idmap_t *m);
void *sfu_idmap_get(const sfu_idmap_t *m, uint64_t key);
/* 0 ok, SFU_EEXIST, SFU_ENOMEM */
int sfu_idmap_put(sfu_idmap_t *m, uint64_t key, void *val);
void *sfu_idmap_del(sfu_idmap_t *m, uint64_t key);

/* slot i holds a value (iterate i over 0 .. cap-1) */
static inline int sfu_idmap_live(const sfu_idmap_t *m, uint32_t i)
{
    return m->keys[i] && m->keys[i] != UINT64_MAX;
}
/* some value of the map, NULL when empty (drain: free it, ask again) */
void *sfu_idmap_any(const sfu_idmap_t *m);
#endif
