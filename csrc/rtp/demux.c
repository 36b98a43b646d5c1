/* demux.c - first-byte classification of datagrams on a shared port.
 * RFC 7983: [0..3] STUN, [20..63] DTLS, [128..191] RTP/RTCP;
 * RFC 5761: RTCP when the second byte (PT incl. marker bit) is 192..223. */
#include "util/sfu_common.h"

int sfu_demux(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return SFU_PKT_UNKNOWN;
    uint8_t b = buf[0];
    if (b <= 3)
        return len >= 20 ? SFU_PKT_STUN : SFU_PKT_UNKNOWN;
    if (b >= 20 && b <= 63)
        return len >= 13 ? SFU_PKT_DTLS : SFU_PKT_UNKNOWN;
    if (b >= 128 && b <= 191) {
        if (len < 2)
            return SFU_PKT_UNKNOWN;
        uint8_t pt = buf[1];
        if (pt >= 192 && pt <= 223)
            return len >= 8 ? SFU_PKT_RTCP : SFU_PKT_UNKNOWN;
        return len >= 12 ? SFU_PKT_RTP : SFU_PKT_UNKNOWN;
    }
    return SFU_PKT_UNKNOWN;
}

static const char *const drop_names[SFU_DROP__COUNT] = {
    [SFU_DROP_NONE] = "none",
    [SFU_DROP_TOO_SHORT] = "too_short",
    [SFU_DROP_TOO_LONG] = "too_long",
    [SFU_DROP_UNKNOWN_CLASS] = "unknown_class",
    [SFU_DROP_BAD_VERSION] = "bad_version",
    [SFU_DROP_BAD_CSRC] = "bad_csrc",
    [SFU_DROP_BAD_EXTENSION] = "bad_extension",
    [SFU_DROP_BAD_PADDING] = "bad_padding",
    [SFU_DROP_BAD_RTCP] = "bad_rtcp",
    [SFU_DROP_BAD_STUN] = "bad_stun",
    [SFU_DROP_UNKNOWN_SOURCE] = "unknown_source",
    [SFU_DROP_UNKNOWN_SSRC] = "unknown_ssrc",
    [SFU_DROP_SRTP_UNPROTECT] = "srtp_unprotect",
    [SFU_DROP_SRTP_PROTECT] = "srtp_protect",
    [SFU_DROP_NO_SRTP] = "no_srtp",
    [SFU_DROP_NO_REMOTE] = "no_remote",
    [SFU_DROP_CONSUMER_PAUSED] = "consumer_paused",
    [SFU_DROP_TO_PY_FULL] = "to_py_full",
    [SFU_DROP_RING_FULL] = "ring_full",
    [SFU_DROP_RING_LAPPED] = "ring_lapped",
    [SFU_DROP_RING_BAD_SLOT] = "ring_bad_slot",
    [SFU_DROP_RING_UNKNOWN_PRODUCER] = "ring_unknown_producer",
    [SFU_DROP_SEND_FAILED] = "send_failed",
    [SFU_DROP_TRANSPORT_CLOSED] = "transport_closed",
};

const char *sfu_drop_reason_name(int reason)
{
    if (reason < 0 || reason >= SFU_DROP__COUNT || !drop_names[reason])
        return "invalid";
    return drop_names[reason];
}
