/*
 * sfu_types.h - constants and plain types every C module of the product
 * shares, and every cffi module sees (build_ext.py lists, per extension
 * module, the headers it feeds to ffi.cdef after dropping preprocessor lines
 * other than integer #defines).
 *
 * Rules for the cffi-facing headers (this one, sfu_packet.h, sfu_srtp.h,
 * sfu_api.h, sfu_units.h, sfu_loadtest.h):
 *   - plain C declarations only: fixed-width types, enums with explicit
 *     values, structs, prototypes, `#define NAME <integer>`; array sizes are
 *     literal numbers (cffi does not expand macros), the macro in a comment;
 *   - names here are the names used on the Python side, one name per
 *     concept on both sides of the boundary.
 */
#ifndef SFU_TYPES_H
#define SFU_TYPES_H

#include <stdint.h>
#include <stddef.h>

#define SFU_MAX_WORKERS 64
#define SFU_MTU 1500            /* largest datagram the data plane accepts */
#define SFU_SRTP_TRAILER_MAX 148 /* room left after a packet for the SRTP/SRTCP tag */

/* Results of commands and constructors */
#define SFU_OK 0
#define SFU_EEXIST -1
#define SFU_ENOENT -2
#define SFU_EINVAL -3
#define SFU_ENOMEM -4
#define SFU_ESTOPPED -5

#define SFU_KIND_AUDIO 0
#define SFU_KIND_VIDEO 1

/* codecs whose key frames the data plane recognises (layer switches) */
#define SFU_CODEC_OTHER 0
#define SFU_CODEC_VP8 1
#define SFU_CODEC_VP9 2
#define SFU_CODEC_H264 3
#define SFU_CODEC_AV1 4

/* ------------------------------------------------------------------ */
/* Drop reasons: every packet the data plane does not forward is counted
 * under exactly one of these.  sfu_drop_reason_name() gives the text.  */
typedef enum {
    SFU_DROP_NONE = 0,
    SFU_DROP_TOO_SHORT = 1,        /* shorter than the smallest valid header */
    SFU_DROP_TOO_LONG = 2,         /* larger than SFU_MTU */
    SFU_DROP_UNKNOWN_CLASS = 3,    /* first byte is none of STUN/DTLS/RTP/RTCP */
    SFU_DROP_BAD_VERSION = 4,      /* RTP/RTCP version != 2 */
    SFU_DROP_BAD_CSRC = 5,         /* CSRC list runs past the end */
    SFU_DROP_BAD_EXTENSION = 6,    /* header extension runs past the end */
    SFU_DROP_BAD_PADDING = 7,      /* padding length 0 or larger than payload */
    SFU_DROP_BAD_RTCP = 8,         /* RTCP compound packet malformed */
    SFU_DROP_BAD_STUN = 9,         /* STUN header/attributes malformed */
    SFU_DROP_UNKNOWN_SOURCE = 10,  /* non-STUN datagram from an address no transport owns */
    SFU_DROP_UNKNOWN_SSRC = 11,    /* RTP for an SSRC no producer owns */
    SFU_DROP_SRTP_UNPROTECT = 12,  /* SRTP/SRTCP authentication or replay failure */
    SFU_DROP_SRTP_PROTECT = 13,    /* SRTP protect failed for a consumer */
    SFU_DROP_NO_SRTP = 14,         /* media on a secure transport before keys were set */
    SFU_DROP_NO_REMOTE = 15,       /* consumer's transport has no remote address yet */
    SFU_DROP_CONSUMER_PAUSED = 16, /* consumer paused: packet skipped for it */
    SFU_DROP_TO_PY_FULL = 17,      /* loop -> Python queue full */
    SFU_DROP_RING_FULL = 18,       /* shared ring to another worker full */
    SFU_DROP_RING_LAPPED = 19,     /* ring slot overwritten before it was read */
    SFU_DROP_RING_BAD_SLOT = 20,   /* ring slot failed validation */
    SFU_DROP_RING_UNKNOWN_PRODUCER = 21, /* ring packet for a producer this worker does not know */
    SFU_DROP_SEND_FAILED = 22,     /* sendmmsg error for this datagram */
    SFU_DROP_TRANSPORT_CLOSED = 23,/* packet for a transport being removed */
    SFU_DROP_RTX_PADDING = 24,     /* publisher RTX without media (its padding / probes) */
    SFU_DROP_BAD_RTX = 25,         /* publisher RTX too short for its original sequence number */
    SFU_DROP_RTX_DUPLICATE = 26,   /* publisher RTX of a packet that was not missing */
    SFU_DROP_STUN_UNKNOWN_UFRAG = 27, /* STUN from an unknown address whose USERNAME names no ICE ufrag of ours */
    SFU_DROP_PACER_FULL = 28,      /* a transport's pacer queue was full: its oldest video went */
    SFU_DROP_PACER_LATE = 29,      /* waited in a transport's pacer longer than SFU_PACER_MAX_DELAY_US */
    SFU_DROP_TCP_QUEUE_FULL = 30,  /* a TCP peer's send queue was full (it stopped reading): frame dropped */
    SFU_DROP_TCP_BAD_FRAME = 31,   /* RFC 4571 frame from a TCP peer empty or longer than a packet: skipped */
    SFU_DROP_BAD_RED = 32,         /* publisher RED (RFC 2198) whose block headers run past the payload */
    SFU_DROP__COUNT = 33
} sfu_drop_reason_t;

const char *sfu_drop_reason_name(int reason);

/* ------------------------------------------------------------------ */
/* First-byte demultiplexing classes (RFC 7983, RFC 5761).              */
typedef enum {
    SFU_PKT_UNKNOWN = 0,
    SFU_PKT_STUN = 1,
    SFU_PKT_DTLS = 2,
    SFU_PKT_RTP = 3,
    SFU_PKT_RTCP = 4
} sfu_pkt_class_t;

/* ------------------------------------------------------------------ */
/* Addresses as C and Python exchange them.                             */
typedef struct {
    uint16_t family;           /* AF_INET or AF_INET6 */
    uint16_t port;             /* host byte order */
    uint32_t scope_id;
    uint8_t  ip[16];           /* IPv4: first 4 bytes, network order */
} sfu_addr_t;

#endif
