"""Drop reasons (sfu_api.h): every constant's name, complete and distinct,
and out-of-range values."""

from __future__ import annotations

import pytest

from sfu._native import ffi, lib

DROP_NAMES = {
    "SFU_DROP_NONE": "none",
    "SFU_DROP_TOO_SHORT": "too_short",
    "SFU_DROP_TOO_LONG": "too_long",
    "SFU_DROP_UNKNOWN_CLASS": "unknown_class",
    "SFU_DROP_BAD_VERSION": "bad_version",
    "SFU_DROP_BAD_CSRC": "bad_csrc",
    "SFU_DROP_BAD_EXTENSION": "bad_extension",
    "SFU_DROP_BAD_PADDING": "bad_padding",
    "SFU_DROP_BAD_RTCP": "bad_rtcp",
    "SFU_DROP_BAD_STUN": "bad_stun",
    "SFU_DROP_UNKNOWN_SOURCE": "unknown_source",
    "SFU_DROP_UNKNOWN_SSRC": "unknown_ssrc",
    "SFU_DROP_SRTP_UNPROTECT": "srtp_unprotect",
    "SFU_DROP_SRTP_PROTECT": "srtp_protect",
    "SFU_DROP_NO_SRTP": "no_srtp",
    "SFU_DROP_NO_REMOTE": "no_remote",
    "SFU_DROP_CONSUMER_PAUSED": "consumer_paused",
    "SFU_DROP_TO_PY_FULL": "to_py_full",
    "SFU_DROP_RING_FULL": "ring_full",
    "SFU_DROP_RING_LAPPED": "ring_lapped",
    "SFU_DROP_RING_BAD_SLOT": "ring_bad_slot",
    "SFU_DROP_RING_UNKNOWN_PRODUCER": "ring_unknown_producer",
    "SFU_DROP_SEND_FAILED": "send_failed",
    "SFU_DROP_TRANSPORT_CLOSED": "transport_closed",
    "SFU_DROP_RTX_PADDING": "rtx_padding",
    "SFU_DROP_BAD_RTX": "bad_rtx",
    "SFU_DROP_RTX_DUPLICATE": "rtx_duplicate",
    "SFU_DROP_STUN_UNKNOWN_UFRAG": "stun_unknown_ufrag",
    "SFU_DROP_PACER_FULL": "pacer_full",
    "SFU_DROP_PACER_LATE": "pacer_late",
    "SFU_DROP_TCP_QUEUE_FULL": "tcp_queue_full",
    "SFU_DROP_TCP_BAD_FRAME": "tcp_bad_frame",
    "SFU_DROP_BAD_RED": "bad_red",
}


@pytest.mark.parametrize("const,name", sorted(DROP_NAMES.items()))
def test_drop_reason_name(const, name):
    assert ffi.string(lib.sfu_drop_reason_name(getattr(lib, const))).decode() == name


def test_drop_reasons_complete_and_distinct():
    assert lib.SFU_DROP__COUNT == len(DROP_NAMES)
    assert sorted(getattr(lib, c) for c in DROP_NAMES) == list(range(lib.SFU_DROP__COUNT))
    names = [ffi.string(lib.sfu_drop_reason_name(i)).decode() for i in range(lib.SFU_DROP__COUNT)]
    assert len(set(names)) == len(names)
    assert len(ffi.new("sfu_stats_t *").drops) == lib.SFU_DROP__COUNT


@pytest.mark.parametrize("reason", [-1, lib.SFU_DROP__COUNT, 1000, -(2**31)])
def test_drop_reason_name_out_of_range(reason):
    assert ffi.string(lib.sfu_drop_reason_name(reason)).decode() == "invalid"
