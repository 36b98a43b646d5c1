"""SRTP in the C data plane against pylibsrtp's Python API as the reference."""

from __future__ import annotations

import os
import struct

import pylibsrtp
import pytest

from sfu import srtp
from sfu.native import ffi, lib

PROFILES = [
    (srtp.AEAD_AES_128_GCM, pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    (srtp.AES128_CM_SHA1_80, pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
]


def ref_session(profile: int, key: bytes, inbound: bool) -> pylibsrtp.Session:
    p = pylibsrtp.Policy(key=key, srtp_profile=profile,
                         ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    return pylibsrtp.Session(p)


def c_call(fn, session: srtp.Session, data: bytes) -> tuple[int, bytes]:
    buf = ffi.new("uint8_t[]", len(data) + lib.SFU_SRTP_TRAILER_MAX)
    ffi.memmove(buf, data, len(data))
    n = ffi.new("int *", len(data))
    rc = fn(session.as_c(), buf, n)
    return rc, bytes(ffi.buffer(buf, n[0]))


def rtp(seq: int, ssrc: int, size: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, ssrc) + bytes((seq + i) & 0xFF for i in range(size - 12))


def rtcp_sr(ssrc: int) -> bytes:
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 1, 2, 3, 4, 5)


@pytest.mark.parametrize("name,ref_profile,keylen", PROFILES)
@pytest.mark.parametrize("size", [12, 13, 200, 1200, 1356])  # 1356: largest pylibsrtp takes
def test_c_protect_matches_pylibsrtp(name, ref_profile, keylen, size):
    key = os.urandom(keylen)
    ours = srtp.Session(name, key, outbound=True)
    ref = ref_session(ref_profile, key, inbound=False)
    for seq in range(1, 6):
        pkt = rtp(seq, 0x1234, size)
        rc, protected = c_call(lib.sfu_srtp_protect, ours, pkt)
        assert rc == 0
        assert protected == ref.protect(pkt)  # deterministic: same key, same index


@pytest.mark.parametrize("name,ref_profile,keylen", PROFILES)
def test_c_unprotect_reads_pylibsrtp(name, ref_profile, keylen):
    key = os.urandom(keylen)
    ours = srtp.Session(name, key, outbound=False)
    ref = ref_session(ref_profile, key, inbound=False)
    for ssrc in (1, 0xFFFFFFFF):
        for seq in (1, 2, 65535, 0):  # includes the rollover
            pkt = rtp(seq, ssrc, 300)
            rc, plain = c_call(lib.sfu_srtp_unprotect, ours, ref.protect(pkt))
            assert rc == 0 and plain == pkt


@pytest.mark.parametrize("name,ref_profile,keylen", PROFILES)
def test_rtcp_both_ways(name, ref_profile, keylen):
    key = os.urandom(keylen)
    c_out, c_in = srtp.Session(name, key, outbound=True), srtp.Session(name, key, outbound=False)
    ref_in, ref_out = ref_session(ref_profile, key, inbound=True), ref_session(ref_profile, key, inbound=False)
    pkt = rtcp_sr(0xABCD)
    rc, prot = c_call(lib.sfu_srtp_protect_rtcp, c_out, pkt)
    assert rc == 0 and ref_in.unprotect_rtcp(prot) == pkt
    rc, plain = c_call(lib.sfu_srtp_unprotect_rtcp, c_in, ref_out.protect_rtcp(pkt))
    assert rc == 0 and plain == pkt


@pytest.mark.parametrize("name,ref_profile,keylen", PROFILES)
def test_tampered_and_replayed_packets_fail(name, ref_profile, keylen):
    key = os.urandom(keylen)
    ours = srtp.Session(name, key, outbound=False)
    ref = ref_session(ref_profile, key, inbound=False)
    good = ref.protect(rtp(10, 5, 200))
    bad = bytearray(good)
    bad[50] ^= 1
    assert c_call(lib.sfu_srtp_unprotect, ours, bytes(bad))[0] != 0
    assert c_call(lib.sfu_srtp_unprotect, ours, good)[0] == 0
    assert c_call(lib.sfu_srtp_unprotect, ours, good)[0] != 0  # replay
    wrong = srtp.Session(name, os.urandom(keylen), outbound=False)
    assert c_call(lib.sfu_srtp_unprotect, wrong, ref.protect(rtp(11, 5, 200)))[0] != 0


def test_key_length_and_profile_checked():
    with pytest.raises(ValueError, match="28 bytes"):
        srtp.Session(srtp.AEAD_AES_128_GCM, b"x" * 30, outbound=True)
    with pytest.raises(ValueError, match="unsupported"):
        srtp.Session("SRTP_NULL", b"x" * 30, outbound=True)
    assert srtp.key_length(srtp.AES128_CM_SHA1_80) == 30


def test_closed_session_has_no_pointer():
    s = srtp.Session(srtp.AEAD_AES_128_GCM, os.urandom(28), outbound=True)
    s.close()
    with pytest.raises(Exception, match="closed"):
        s.pointer
