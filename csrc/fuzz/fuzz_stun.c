/* fuzz_stun.c - sfu_stun_check on arbitrary datagrams, and the split of the USERNAME it found. */
#include "../util/common.c"
#include "../rtp/stun.c"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SFU_MTU)
        return 0;
    uint16_t uoff = 0xdead, ulen = 0xbeef;
    int rc = sfu_stun_check(data, size, &uoff, &ulen);
    FUZZ_CHECK(rc == SFU_DROP_NONE || rc == SFU_DROP_BAD_STUN);
    if (rc != SFU_DROP_NONE)
        return 0;
    FUZZ_CHECK(size >= 20 && size % 4 == 0);
    FUZZ_CHECK((data[0] & 0xc0) == 0);
    FUZZ_CHECK(sfu_rd16(data + 2) + 20u == size);
    FUZZ_CHECK(sfu_rd32(data + 4) == 0x2112A442u);
    if (ulen == 0 && uoff == 0)
        return 0; /* no USERNAME (an empty one reports its offset, length 0) */
    FUZZ_CHECK(uoff >= 24 && (uoff - 20) % 4 == 0);
    FUZZ_CHECK((size_t)uoff + ulen <= size);
    FUZZ_CHECK(sfu_rd16(data + uoff - 4) == 0x0006 && sfu_rd16(data + uoff - 2) == ulen);
    fuzz_touch(data + uoff, ulen);
    int n = sfu_stun_local_ufrag_len(data + uoff, ulen);
    FUZZ_CHECK(n == -1 || (n > 0 && (size_t)n + 1 < ulen && data[uoff + n] == ':'));
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(data[uoff + i] != ':');
    return 0;
}
