/* ice_ufrag_map.c - which transport a STUN check from a new address is for: our ICE ufrag
 * (the first part of its USERNAME, RFC 8445 7.2.2) -> transport.  Only checks naming a
 * ufrag we handed out reach the control plane; the rest are dropped here and counted
 * (stun_unknown_ufrag), so a STUN flood from strangers cannot delay new calls. */
#include <string.h>
#include "util/sfu_common.h"
#include "loop/loop_internal.h"

/* FNV-1a; the top bit cleared (the map reserves key UINT64_MAX); a hit is confirmed by
 * comparing the stored ufrag, so a collision only ever costs a drop */
static uint64_t ufrag_key(const uint8_t *u, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= u[i];
        h *= 1099511628211ull;
    }
    return h >> 1;
}

void transport_forget_ice_ufrag(sfu_loop_t *l, struct transport *t)
{
    if (!t->ice_ufrag_len)
        return;
    uint64_t k = ufrag_key((const uint8_t *)t->ice_ufrag, t->ice_ufrag_len);
    if (sfu_idmap_get(&l->ufrags, k) == t)
        sfu_idmap_del(&l->ufrags, k);
    t->ice_ufrag_len = 0;
}

int transport_set_ice_ufrag(sfu_loop_t *l, struct transport *t, const char *ufrag, size_t len)
{
    if (len == 0 || len > SFU_ICE_UFRAG_MAX || memchr(ufrag, ':', len))
        return SFU_EINVAL;
    uint64_t k = ufrag_key((const uint8_t *)ufrag, len);
    struct transport *other = sfu_idmap_get(&l->ufrags, k);
    if (other && other != t)
        return SFU_EEXIST;             /* another transport's (or a hash twin): pick another */
    transport_forget_ice_ufrag(l, t);  /* an ICE restart replaces it */
    int rc = sfu_idmap_put(&l->ufrags, k, t);
    if (rc != SFU_OK)
        return rc;
    memcpy(t->ice_ufrag, ufrag, len);
    t->ice_ufrag_len = (uint8_t)len;
    return SFU_OK;
}

struct transport *transport_by_stun_username(sfu_loop_t *l, const uint8_t *username, size_t len)
{
    int n = sfu_stun_local_ufrag_len(username, len);
    if (n <= 0 || n > SFU_ICE_UFRAG_MAX)
        return NULL;
    struct transport *t = sfu_idmap_get(&l->ufrags, ufrag_key(username, (size_t)n));
    if (!t || t->ice_ufrag_len != n || memcmp(t->ice_ufrag, username, (size_t)n))
        return NULL;
    return t;
}
