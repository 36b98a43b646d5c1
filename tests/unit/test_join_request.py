"""The /rtc/v1 join request (sfu.signaling.join): base64url WrappedJoinRequest,
plain or gzip, and the refusals of bad or oversized input."""

from __future__ import annotations

import base64
import gzip

import pytest
from livekit.protocol import rtc as lk


def test_v1_join_request_decoding():
    from sfu.signaling.join import JoinError, decode_join_request

    jr = lk.JoinRequest(metadata="hello", reconnect=True, participant_sid="PA_x")
    jr.client_info.protocol = 18
    raw = jr.SerializeToString()
    for comp, body in ((lk.WrappedJoinRequest.NONE, raw), (lk.WrappedJoinRequest.GZIP, gzip.compress(raw))):
        w = lk.WrappedJoinRequest(compression=comp, join_request=body)
        got = decode_join_request(base64.urlsafe_b64encode(w.SerializeToString()).decode())
        assert got.metadata == "hello" and got.reconnect and got.client_info.protocol == 18
    bomb = lk.WrappedJoinRequest(compression=lk.WrappedJoinRequest.GZIP, join_request=gzip.compress(b"\0" * (2 << 20)))
    for bad in ("!!!", base64.urlsafe_b64encode(b"\xff\xff").decode(),
                base64.urlsafe_b64encode(bomb.SerializeToString()).decode(),
                base64.urlsafe_b64encode(lk.WrappedJoinRequest(compression=1, join_request=b"nogzip")
                                         .SerializeToString()).decode()):
        with pytest.raises(JoinError) as e:
            decode_join_request(bad)
        assert e.value.status == 400
