"""The records of the loop -> Python queue (sfu_py_rec_t; csrc/loop/control_queue.c).

A drained batch is a run of records, each a header and `len` bytes of data,
padded to 8 bytes: datagrams for the control plane (STUN, DTLS) and the data
plane's events.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..native import addr_from_c, bwe_stats_dict, ffi, lib

HEADER = ffi.sizeof("sfu_py_rec_t")

# event records whose only field is the producer (arg) on its transport
PRODUCER_EVENTS = {lib.SFU_REC_PRODUCER_INACTIVE: "producer_inactive",
                   lib.SFU_REC_PRODUCER_ACTIVE: "producer_active"}


def walk(buf: Any, n: int) -> Iterator[tuple[Any, tuple[str, int], bytes]]:
    """(record, its `from` address, its data) for each record of buf[0:n]"""
    off = 0
    while off < n:
        rec = ffi.cast("sfu_py_rec_t *", buf + off)
        length = int(rec.len)
        addr = addr_from_c(getattr(rec, "from"))  # `from` is a Python keyword
        yield rec, addr, bytes(ffi.buffer(buf + off + HEADER, length))
        off += (HEADER + length + 7) & ~7


def unknown_ssrc_fields(data: bytes) -> dict:
    """the event fields of an SFU_REC_UNKNOWN_SSRC record's data (sfu_unknown_ssrc_t, then mid, rid, rrid)"""
    u = ffi.cast("sfu_unknown_ssrc_t *", ffi.from_buffer(data))
    off = ffi.sizeof("sfu_unknown_ssrc_t")
    out: dict = {"ssrc": int(u.ssrc), "payload_type": int(u.payload_type)}
    for key, n in (("mid", int(u.mid_len)), ("rid", int(u.rid_len)), ("rrid", int(u.repaired_rid_len))):
        out[key] = data[off:off + n].decode("ascii", "replace")
        off += n
    return out


def bwe_fields(data: bytes) -> dict:
    """the event fields of an SFU_REC_TRANSPORT_BWE record's data (sfu_bwe_stats_t)"""
    return bwe_stats_dict(ffi.cast("sfu_bwe_stats_t *", ffi.from_buffer(data)))
