/* drop_reason.c - the names of the drop reasons (GET /sfu/v1/stats, sfu.native.DROP_REASONS). */
#include "util/sfu_common.h"

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
    [SFU_DROP_RTX_PADDING] = "rtx_padding",
    [SFU_DROP_BAD_RTX] = "bad_rtx",
    [SFU_DROP_RTX_DUPLICATE] = "rtx_duplicate",
    [SFU_DROP_STUN_UNKNOWN_UFRAG] = "stun_unknown_ufrag",
    [SFU_DROP_PACER_FULL] = "pacer_full",
    [SFU_DROP_PACER_LATE] = "pacer_late",
    [SFU_DROP_TCP_QUEUE_FULL] = "tcp_queue_full",
    [SFU_DROP_TCP_BAD_FRAME] = "tcp_bad_frame",
    [SFU_DROP_BAD_RED] = "bad_red",
};

const char *sfu_drop_reason_name(int reason)
{
    if (reason < 0 || reason >= SFU_DROP__COUNT || !drop_names[reason])
        return "invalid";
    return drop_names[reason];
}
