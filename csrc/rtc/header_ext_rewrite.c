/* header_ext_rewrite.c - header extension ids of an outgoing copy rewritten
 * to the subscriber's (RFC 8285; sfu_units.h).  The extension block was
 * bounds-checked by sfu_rtp_parse. */
#include "util/sfu_common.h"
#include "sfu_units.h"

void sfu_header_ext_rewrite(uint8_t *pkt, const sfu_rtp_t *rtp, const uint8_t *map)
{
    uint8_t *p = pkt + rtp->ext_offset;
    size_t n = rtp->ext_len, i = 0;
    if (rtp->ext_profile == 0xBEDE) {
        while (i < n) {
            uint8_t h = p[i];
            if (h == 0) { i++; continue; }
            uint8_t id = h >> 4;
            size_t len = (size_t)(h & 0x0f) + 1;
            if (id == 15 || i + 1 + len > n) {  /* reserved id: the rest is not ours to read */
                memset(p + i, 0, n - i);
                return;
            }
            uint8_t out = map[id];
            if (out)
                p[i] = (uint8_t)((out << 4) | (h & 0x0f));
            else
                memset(p + i, 0, 1 + len);
            i += 1 + len;
        }
    } else if ((rtp->ext_profile & 0xfff0) == 0x1000) {
        while (i < n) {
            uint8_t id = p[i];
            if (id == 0) { i++; continue; }
            if (i + 2 > n) { memset(p + i, 0, n - i); return; }
            size_t len = p[i + 1];
            if (i + 2 + len > n) { memset(p + i, 0, n - i); return; }
            uint8_t out = id < 16 ? map[id] : 0;
            if (out)
                p[i] = out;
            else
                memset(p + i, 0, 2 + len);
            i += 2 + len;
        }
    } else {
        memset(p, 0, n);               /* unknown profile: nothing is understood */
    }
}
