/* tcc_seq_stamp.c - the transport-wide sequence number written into an
 * outgoing RTP packet (draft-holmer-rmcat-transport-wide-cc-extensions-01
 * section 2: a header extension element of 2 bytes; RFC 8285 one-byte or
 * two-byte form).  In order of preference, so that packets keep their
 * size (and a consumer's run of equal-size packets stays one GSO send):
 * the element with that id already there (the publisher's transport-wide
 * number, mapped to the subscriber's id) is overwritten; else it goes into
 * padding inside the block (where header_ext_rewrite left a removed
 * element); else the block grows by a word, or a block is added (8 bytes).
 * Every length is checked against the packet and `cap`. */
#include "util/sfu_common.h"
#include "sfu_packet.h"

static void put_seq(uint8_t *p, uint16_t seq)
{
    p[0] = (uint8_t)(seq >> 8);
    p[1] = (uint8_t)seq;
}

/* offset in the block of where the element goes, or: -1 no room, -2 unreadable */
static long find_slot(uint8_t *p, size_t n, int two_byte, uint8_t id, int *found)
{
    size_t need = two_byte ? 4 : 3;                 /* element header + 2 value bytes */
    size_t i = 0, zeros = 0;
    long slot = -1;
    *found = 0;
    while (i < n) {
        if (p[i] == 0) {                            /* padding */
            if (++zeros >= need && slot < 0)
                slot = (long)(i + 1 - need);
            i++;
            continue;
        }
        zeros = 0;
        uint8_t eid;
        size_t hdr, len;
        if (two_byte) {
            if (i + 2 > n)
                return slot >= 0 ? slot : -2;
            eid = p[i];
            hdr = 2;
            len = p[i + 1];
        } else {
            eid = p[i] >> 4;
            hdr = 1;
            len = (size_t)(p[i] & 0x0f) + 1;
            if (eid == 15)                          /* reserved: nothing after it is read */
                return slot >= 0 ? slot : -2;
        }
        if (i + hdr + len > n)
            return slot >= 0 ? slot : -2;
        if (eid == id) {
            if (len == 2) {
                *found = 1;
                return (long)(i + hdr);
            }
            memset(p + i, 0, hdr + len);            /* our id with another length: not ours, remove */
            continue;                               /* now padding: may take the element */
        }
        i += hdr + len;
    }
    return slot;
}

uint32_t sfu_tcc_seq_stamp(uint8_t *pkt, uint32_t len, uint32_t cap, const sfu_rtp_t *rtp, uint8_t id,
                           uint16_t seq)
{
    if (id < 1 || id > 14 || cap < len)
        return 0;
    if (!rtp->has_extension) {
        /* add a one-byte block after the CSRCs: 4 bytes of header, one word of element + padding */
        uint32_t at = 12u + 4u * rtp->csrc_count;
        if (at > len || len + 8 > cap)
            return 0;
        memmove(pkt + at + 8, pkt + at, len - at);
        pkt[0] |= 0x10;
        pkt[at] = 0xBE;
        pkt[at + 1] = 0xDE;
        pkt[at + 2] = 0;
        pkt[at + 3] = 1;
        pkt[at + 4] = (uint8_t)((id << 4) | 1);
        put_seq(pkt + at + 5, seq);
        pkt[at + 7] = 0;
        return len + 8;
    }
    int two_byte;
    if (rtp->ext_profile == 0xBEDE)
        two_byte = 0;
    else if ((rtp->ext_profile & 0xfff0) == 0x1000)
        two_byte = 1;
    else
        return 0;                                   /* a profile we cannot add an element to */
    uint32_t off = rtp->ext_offset, n = rtp->ext_len;
    if (off < 4 || off + n > len)
        return 0;
    int found;
    long slot = find_slot(pkt + off, n, two_byte, id, &found);
    if (slot == -2)
        return 0;
    if (found) {
        put_seq(pkt + off + slot, seq);
        return len;
    }
    if (slot < 0) {
        /* no room: the block grows by one word at its end */
        uint32_t end = off + n;
        uint16_t words = sfu_rd16(pkt + off - 2);
        if (len + 4 > cap || words == 0xFFFF)
            return 0;
        memmove(pkt + end + 4, pkt + end, len - end);
        memset(pkt + end, 0, 4);
        sfu_wr16(pkt + off - 2, (uint16_t)(words + 1));
        slot = (long)n;
        len += 4;
    }
    uint8_t *e = pkt + off + slot;
    if (two_byte) {
        e[0] = id;
        e[1] = 2;
        put_seq(e + 2, seq);
    } else {
        e[0] = (uint8_t)((id << 4) | 1);
        put_seq(e + 1, seq);
    }
    return len;
}
