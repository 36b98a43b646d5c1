/* idmap.c - open-addressing (linear probe) hash map, 64-bit keys. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "util/idmap.h"

#define EMPTY 0ull
#define TOMB UINT64_MAX

static inline uint32_t slot_of(uint64_t k, uint32_t cap)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (uint32_t)k & (cap - 1);
}

int sfu_idmap_init(sfu_idmap_t *m, uint32_t cap)
{
    uint32_t c = 16;
    while (c < cap)
        c <<= 1;
    m->keys = calloc(c, sizeof(uint64_t));
    m->vals = calloc(c, sizeof(void *));
    if (!m->keys || !m->vals) {
        free(m->keys);
        free(m->vals);
        m->keys = NULL;
        m->vals = NULL;
        return SFU_ENOMEM;
    }
    m->cap = c;
    m->used = 0;
    m->live = 0;
    return SFU_OK;
}

void sfu_idmap_free(sfu_idmap_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* the slot holding key, or m->cap when it is absent */
static inline uint32_t find(const sfu_idmap_t *m, uint64_t key)
{
    uint64_t k1 = key + 1;
    uint32_t i = slot_of(key, m->cap);
    for (uint32_t n = 0; n < m->cap; n++, i = (i + 1) & (m->cap - 1)) {
        uint64_t k = m->keys[i];
        if (k == EMPTY)
            return m->cap;
        if (k == k1)
            return i;
    }
    return m->cap;
}

void *sfu_idmap_get(const sfu_idmap_t *m, uint64_t key)
{
    uint32_t i = find(m, key);
    return i < m->cap ? m->vals[i] : NULL;
}

static int rehash(sfu_idmap_t *m, uint32_t cap)
{
    sfu_idmap_t n;
    if (sfu_idmap_init(&n, cap))
        return SFU_ENOMEM;
    for (uint32_t i = 0; i < m->cap; i++) {
        uint64_t k = m->keys[i];
        if (k != EMPTY && k != TOMB)
            sfu_idmap_put(&n, k - 1, m->vals[i]);
    }
    sfu_idmap_free(m);
    *m = n;
    return SFU_OK;
}

int sfu_idmap_put(sfu_idmap_t *m, uint64_t key, void *val)
{
    SFU_ASSERT(key != UINT64_MAX && key + 1 != TOMB);
    if ((m->used + 1) * 4 > m->cap * 3) {
        if (rehash(m, m->live * 2 + 2 > m->cap / 2 ? m->cap * 2 : m->cap))
            return SFU_ENOMEM;
    }
    uint64_t k1 = key + 1;
    uint32_t i = slot_of(key, m->cap), tomb = UINT32_MAX;
    for (;; i = (i + 1) & (m->cap - 1)) {
        uint64_t k = m->keys[i];
        if (k == k1)
            return SFU_EEXIST;
        if (k == TOMB && tomb == UINT32_MAX)
            tomb = i;
        if (k == EMPTY)
            break;
    }
    if (tomb != UINT32_MAX)
        i = tomb;
    else
        m->used++;
    m->keys[i] = k1;
    m->vals[i] = val;
    m->live++;
    return SFU_OK;
}

void *sfu_idmap_del(sfu_idmap_t *m, uint64_t key)
{
    uint32_t i = find(m, key);
    if (i == m->cap)
        return NULL;
    void *v = m->vals[i];
    m->keys[i] = TOMB;
    m->vals[i] = NULL;
    m->live--;
    return v;
}

void *sfu_idmap_any(const sfu_idmap_t *m)
{
    for (uint32_t i = 0; m->keys && i < m->cap; i++)
        if (sfu_idmap_live(m, i))
            return m->vals[i];
    return NULL;
}
