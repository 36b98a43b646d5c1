"""Signed cluster inbox entries (sfu.cluster.inbox_signature)."""

from __future__ import annotations

from sfu.cluster.inbox_signature import sign, signing_key, verify


def as_read(fields: dict) -> dict[bytes, bytes]:
    """what XREAD gives back for an entry written with these fields"""
    return {k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in fields.items()}


KEY = signing_key({"k1": "s" * 32, "k2": "t" * 32})


def test_an_entry_signed_by_a_node_with_the_same_keys_verifies():
    e = sign({"t": "rpc", "svc": "livekit.RoomService", "m": "DeleteRoom", "b": b"\x0a\x01r", "ts": 17, "id": "n:1"}, KEY)
    assert verify(as_read(e), KEY)
    assert verify(as_read(e), signing_key({"k2": "t" * 32, "k1": "s" * 32}))       # the order of keys: irrelevant


def test_changed_added_or_missing_fields_and_other_keys_fail():
    e = as_read(sign({"t": "rpc", "m": "ListRooms", "b": b"", "id": "n:1"}, KEY))
    assert not verify({**e, b"m": b"DeleteRoom"}, KEY)
    assert not verify({**e, b"extra": b"1"}, KEY)
    assert not verify({k: v for k, v in e.items() if k != b"b"}, KEY)
    assert not verify({k: v for k, v in e.items() if k != b"sig"}, KEY)
    assert not verify(e, signing_key({"k1": "s" * 32}))
    # field boundaries are part of what is signed: moving bytes between fields breaks it
    a = as_read(sign({"ab": "c", "d": "e"}, KEY))
    assert not verify({b"a": b"bc", b"d": b"e", b"sig": a[b"sig"]}, KEY)
