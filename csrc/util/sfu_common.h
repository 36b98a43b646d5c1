/* sfu_common.h - internal helpers shared by the C data plane (not seen by cffi). */
#ifndef SFU_COMMON_H
#define SFU_COMMON_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include "sfu_types.h"

#define SFU_LIKELY(x) __builtin_expect(!!(x), 1)
#define SFU_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Invariants only (never for network input): abort with a message. */
void sfu_assert_fail(const char *expr, const char *file, int line);
#define SFU_ASSERT(e) ((e) ? (void)0 : sfu_assert_fail(#e, __FILE__, __LINE__))

static inline uint16_t sfu_rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t sfu_rd32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void sfu_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sfu_wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static inline uint64_t sfu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 16-bit sequence comparison: a is newer than b (RFC 3550 wrap rules) */
static inline int sfu_seq_newer(uint16_t a, uint16_t b) {
    return a != b && (uint16_t)(a - b) < 0x8000;
}

#endif
