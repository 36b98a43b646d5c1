"""SRTP sessions for the C data plane.

The pylibsrtp wheel carries libsrtp 2.7 linked with OpenSSL 3.5 (AES-NI,
AES-GCM).  Sessions are created here with the wheel's own cffi binding, so
libsrtp's struct layouts are always right; the C loop receives the session
pointer and, once per process, the addresses of the four per-packet entry
points (sfu_srtp_bind).  Nothing here runs per packet.
"""

from __future__ import annotations

from typing import Any

from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

from . import errors
from .native import lib

# profile names as in RFC 5764 / RFC 7714 (and DTLS use_srtp)
AES128_CM_SHA1_80 = "SRTP_AES128_CM_SHA1_80"
AEAD_AES_128_GCM = "SRTP_AEAD_AES_128_GCM"

PROFILES: dict[str, int] = {
    AES128_CM_SHA1_80: srtp_lib.srtp_profile_aes128_cm_sha1_80,
    AEAD_AES_128_GCM: srtp_lib.srtp_profile_aead_aes_128_gcm,
}

REPLAY_WINDOW = 1024


def key_length(profile: str) -> int:
    """master key + master salt bytes for a profile"""
    p = PROFILES[profile]
    return int(
        srtp_lib.srtp_profile_get_master_key_length(p) + srtp_lib.srtp_profile_get_master_salt_length(p)
    )


def _fnptr(name: str) -> int:
    return int(srtp_ffi.cast("uintptr_t", srtp_ffi.addressof(srtp_lib, name)))


def bind(target: Any = lib) -> None:
    """Give an extension module's SRTP glue libsrtp's entry points (idempotent):
    the data plane's (sfu._native, the default) or the load-test engine's."""
    if target.sfu_srtp_bound():
        return
    rc = target.sfu_srtp_bind(
        _fnptr("srtp_protect"), _fnptr("srtp_unprotect"),
        _fnptr("srtp_protect_rtcp"), _fnptr("srtp_unprotect_rtcp"),
    )
    if rc != 0:
        raise errors.NativeError("sfu_srtp_bind failed")


class Session:
    """One libsrtp session: inbound (any SSRC) or outbound (any SSRC).

    `pointer` is the srtp_t as an integer for the C loop.  close() frees it;
    the caller must first make sure the loop no longer uses it.
    """

    def __init__(self, profile: str, key: bytes, outbound: bool) -> None:
        self._srtp: Any = None
        if profile not in PROFILES:
            raise ValueError(f"unsupported SRTP profile {profile!r}")
        need = key_length(profile)
        if len(key) != need:
            raise ValueError(f"{profile} needs {need} bytes of key+salt, got {len(key)}")
        bind()
        self.profile = profile
        self.outbound = outbound
        policy = srtp_ffi.new("srtp_policy_t *")
        pid = PROFILES[profile]
        _check(srtp_lib.srtp_crypto_policy_set_from_profile_for_rtp(srtp_ffi.addressof(policy.rtp), pid))
        _check(srtp_lib.srtp_crypto_policy_set_from_profile_for_rtcp(srtp_ffi.addressof(policy.rtcp), pid))
        policy.ssrc.type = srtp_lib.ssrc_any_outbound if outbound else srtp_lib.ssrc_any_inbound
        policy.ssrc.value = 0
        self._key = srtp_ffi.new("unsigned char[]", key)
        policy.key = self._key
        policy.window_size = REPLAY_WINDOW
        # retransmissions (NACK replies) reuse sequence numbers
        policy.allow_repeat_tx = 1
        self._srtp = srtp_ffi.new("srtp_t *")
        _check(srtp_lib.srtp_create(self._srtp, policy))
        self._policy = policy

    @property
    def pointer(self) -> int:
        if self._srtp is None:
            raise errors.InvalidStateError("SRTP session closed")
        return int(srtp_ffi.cast("uintptr_t", self._srtp[0]))

    def as_c(self, ffi: Any = None) -> Any:
        """the session as a `void *` of an extension's ffi (default sfu._native's)"""
        if ffi is None:
            from .native import ffi
        return ffi.cast("void *", self.pointer)

    def close(self) -> None:
        if self._srtp is not None:
            srtp_lib.srtp_dealloc(self._srtp[0])
            self._srtp = None

    def __del__(self) -> None:  # a leaked session is freed with its owner
        self.close()


def _check(rc: int) -> None:
    if rc != 0:
        raise errors.NativeError(f"libsrtp error {rc}")
