/* stun.c - STUN message framing check (RFC 5389); the control plane parses
 * and answers STUN with aioice's codec, this only guards the hand-off. */
#include "util/sfu_common.h"
#include "sfu_packet.h"

#define STUN_MAGIC 0x2112A442u
#define STUN_ATTR_USERNAME 0x0006

int sfu_stun_local_ufrag_len(const uint8_t *username, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (username[i] == ':')
            return i > 0 && i + 1 < len ? (int)i : -1;
    return -1;
}

int sfu_stun_check(const uint8_t *buf, size_t len, uint16_t *username_off, uint16_t *username_len)
{
    *username_off = 0;
    *username_len = 0;
    if (len < 20)
        return SFU_DROP_BAD_STUN;
    if (len > SFU_MTU)
        return SFU_DROP_TOO_LONG;
    if (buf[0] & 0xc0)
        return SFU_DROP_BAD_STUN;
    size_t mlen = sfu_rd16(buf + 2);
    if (mlen % 4 || 20 + mlen != len || sfu_rd32(buf + 4) != STUN_MAGIC)
        return SFU_DROP_BAD_STUN;
    size_t off = 20;
    while (off < len) {
        if (len - off < 4)
            return SFU_DROP_BAD_STUN;
        uint16_t type = sfu_rd16(buf + off);
        size_t alen = sfu_rd16(buf + off + 2);
        size_t padded = (alen + 3) & ~(size_t)3;
        if (padded > len - off - 4)
            return SFU_DROP_BAD_STUN;
        if (type == STUN_ATTR_USERNAME && *username_len == 0) {
            *username_off = (uint16_t)(off + 4);
            *username_len = (uint16_t)alen;
        }
        off += 4 + padded;
    }
    return SFU_DROP_NONE;
}
