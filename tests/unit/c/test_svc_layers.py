"""Scalable video (SVC) in the data plane, as units: where a packet sits (the VP9 payload
descriptor, RFC 9628 4.2; the dependency descriptor, AV1 RTP spec appendix A) and which
layers a consumer forwards (csrc/rtc/svc_layer_selector.c), through sfu._units."""

from __future__ import annotations

import pytest

from sfu._units import ffi, lib

ALL = lib.SFU_SVC_ALL


def vp9(sid: int, tid: int, *, b: bool = True, e: bool = True, u: bool = False, p: bool = True,
        pid: int | None = 0x1234, flexible: bool = True) -> bytes:
    """a VP9 payload descriptor with layer indices, then two bytes of frame"""
    i = 0x80 if pid is not None else 0
    b0 = i | (0x40 if p else 0) | 0x20 | (0 if flexible else 0x10) | (0x08 if b else 0) | (0x04 if e else 0)
    out = bytes([b0])
    if pid is not None:
        out += bytes([0x80 | (pid >> 8), pid & 0xFF])
    out += bytes([(tid << 5) | (0x10 if u else 0) | (sid << 1)])
    if not flexible:
        out += b"\x07"                         # TL0PICIDX
    return out + b"\x00\x00"


def vp9_layers(payload: bytes):
    out = ffi.new("sfu_video_layers_t *")
    out.spatial = out.temporal = -1
    rc = lib.sfu_vp9_layers(payload, len(payload), out)
    return rc, out


def test_vp9_layer_indices():
    rc, li = vp9_layers(vp9(2, 1, b=True, e=False, u=True))
    assert rc == 1 and (li.spatial, li.temporal, li.start, li.end, li.sync) == (2, 1, 1, 0, 1)
    rc, li = vp9_layers(vp9(1, 2, b=False, e=True, pid=5))           # 7-bit picture id
    assert rc == 1 and (li.spatial, li.temporal, li.start, li.end, li.sync) == (1, 2, 0, 1, 0)
    rc, li = vp9_layers(vp9(0, 0, pid=None, flexible=False))
    assert rc == 1 and (li.spatial, li.temporal, li.sync) == (0, 0, 1)   # temporal 0: always a switching point


def test_vp9_without_layer_indices_is_not_scalable():
    rc, li = vp9_layers(bytes([0x88, 0x12, 0x00]))                  # I and B, no L
    assert rc == 0 and li.spatial == -1


@pytest.mark.parametrize("cut", range(0, 4))
def test_vp9_descriptor_cut_short(cut):
    assert vp9_layers(vp9(1, 1)[:cut])[0] == -1


class Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, n: int) -> "Bits":
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def bytes(self) -> bytes:
        b = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, b[i:i + 8])), 2) for i in range(0, len(b), 8))


def l3t3_layers() -> list[int]:
    """template_layers() of an L3T3-like structure: per spatial layer temporal 0, 1, 2"""
    idc = []
    for s in range(3):
        idc += [1, 1, 2 if s < 2 else 3]          # T0 -> T1 -> T2, then next spatial (or end)
    return idc


def dd(template_id: int, frame: int, *, start: bool = True, end: bool = True, structure: list[int] | None = None,
       offset: int = 0, dt: int = 9, tail: bool = True) -> bytes:
    w = Bits().put(int(start), 1).put(int(end), 1).put(template_id, 6).put(frame, 16)
    if structure is not None:
        w.put(1, 1).put(0, 4)                      # structure present; no other extended flag
        w.put(offset, 6).put(dt - 1, 5)
        for idc in structure:
            w.put(idc, 2)
        if tail:
            w.put(0, 24)                           # (the rest of the structure, unread)
    return w.bytes()


def dd_parse(b: bytes, st=None):
    st = st if st is not None else ffi.new("sfu_dd_structure_t *")
    out = ffi.new("sfu_dd_t *")
    return lib.sfu_dd_parse(b, len(b), st, out), out, st


def test_dd_structure_names_each_templates_layers():
    rc, d, st = dd_parse(dd(4, 100, structure=l3t3_layers(), offset=3))
    assert rc == lib.SFU_DD_OK and d.has_structure and st.n_templates == 9 and st.n_decode_targets == 9
    # template id 4 with offset 3 is template 1: spatial 0, temporal 1
    assert (d.spatial, d.temporal, d.start, d.end, d.frame_number) == (0, 1, 1, 1, 100)
    for tid, want in [(3, (0, 0)), (8, (1, 2)), (11, (2, 2)), (9, (2, 0))]:
        rc, d, _ = dd_parse(dd(tid, 101, start=False, end=False), st)
        assert rc == lib.SFU_DD_OK and not d.has_structure and (d.spatial, d.temporal) == want, tid
        assert (d.start, d.end) == (0, 0)


def test_dd_template_ids_wrap_at_64():
    rc, d, st = dd_parse(dd(62, 1, structure=[1, 3], offset=62))     # templates 62 and 63
    assert rc == lib.SFU_DD_OK and (d.spatial, d.temporal) == (0, 0)
    assert dd_parse(dd(63, 2), st)[1].temporal == 1
    assert dd_parse(dd(0, 3), st)[1].spatial == -1                   # template 2: not in the structure


def test_dd_without_a_structure_knows_no_layers():
    rc, d, _ = dd_parse(dd(0, 7))
    assert rc == lib.SFU_DD_OK and (d.spatial, d.temporal) == (-1, -1) and d.frame_number == 7


def test_dd_bad_input_keeps_the_structure():
    rc, d, st = dd_parse(dd(0, 1, structure=l3t3_layers()))
    assert rc == lib.SFU_DD_OK
    assert dd_parse(b"\x80\x00")[0] == lib.SFU_DD_SHORT
    cut = dd(0, 2, structure=l3t3_layers(), tail=False)[:5]          # the structure runs past the end
    assert dd_parse(cut, st)[0] == lib.SFU_DD_SHORT and st.n_templates == 9
    many = dd(0, 3, structure=[0] * 70)                             # more than 64 templates
    assert dd_parse(many, st)[0] == lib.SFU_DD_BAD_STRUCTURE and st.n_templates == 9
    deep = dd(0, 4, structure=[1] * 9 + [3])                         # temporal id 9
    assert dd_parse(deep, st)[0] == lib.SFU_DD_BAD_STRUCTURE and st.n_templates == 9


class Selector:
    def __init__(self) -> None:
        self.s = ffi.new("sfu_svc_selector_t *")
        lib.sfu_svc_selector_init(self.s)

    def target(self, spatial: int, temporal: int) -> None:
        lib.sfu_svc_selector_set_target(self.s, spatial, temporal)

    def packet(self, sid: int, tid: int, *, start: bool = True, end: bool = True, key: bool = False,
               sync: bool = False, marker: bool = False) -> tuple[bool, bool]:
        li = ffi.new("sfu_video_layers_t *")
        li.spatial, li.temporal, li.start, li.end, li.sync = sid, tid, start, end, sync or tid == 0
        m = ffi.new("int *", int(marker))
        go = lib.sfu_svc_selector_select(self.s, li, int(key), m)
        return bool(go), bool(m[0])

    def picture(self, tid: int, spatial_layers: int = 3, key: bool = False) -> list[tuple[int, bool]]:
        """one picture: each spatial layer in one packet, the marker on the last; which went,
        with their marker"""
        out = []
        for sid in range(spatial_layers):
            go, m = self.packet(sid, tid, key=key and sid == 0, marker=sid == spatial_layers - 1)
            if go:
                out.append((sid, m))
        return out


def test_every_layer_until_a_target_is_set():
    s = Selector()
    assert s.picture(2) == [(0, False), (1, False), (2, True)]
    assert s.s.spatial == ALL and s.s.switches == 0


def test_down_at_the_next_picture_with_the_marker_on_the_top_layer_forwarded():
    s = Selector()
    s.target(1, 2)
    assert s.picture(0) == [(0, False), (1, True)]
    s.target(0, 2)
    assert s.picture(2) == [(0, True)]
    assert s.s.switches == 2 and s.s.dropped == 3


def test_down_waits_for_the_start_of_a_picture():
    s = Selector()
    assert s.packet(0, 0, end=False) == (True, False)
    s.target(0, ALL)
    # the rest of this picture still goes (its layer 0 started before the change)
    assert s.packet(0, 0, start=False, end=True)[0] and s.packet(1, 0)[0] and s.packet(2, 0, marker=True)[0]
    assert s.picture(1) == [(0, True)]


def test_up_only_at_a_key_frame_and_a_wanted_layer_asks_for_one():
    s = Selector()
    s.target(0, 2)
    s.picture(0)
    s.target(2, 2)
    assert s.picture(1) == [(0, True)] and s.s.want_keyframe == 1
    s.s.want_keyframe = 0
    assert s.picture(0, key=True) == [(0, False), (1, False), (2, True)]
    assert s.s.want_keyframe == 0 and s.s.spatial == 2


def test_a_target_above_what_is_sent_asks_for_nothing():
    s = Selector()
    s.target(0, 2)
    s.picture(0, spatial_layers=1)
    s.target(2, 2)                      # only layer 0 is sent: no key frame wanted for nothing
    for _ in range(5):
        assert s.picture(1, spatial_layers=1) == [(0, True)]
    assert s.s.want_keyframe == 0


def test_temporal_down_at_once_up_at_a_switching_point():
    s = Selector()
    s.target(2, 0)
    assert [s.picture(t) for t in (0, 2, 1, 2)] == [[(0, False), (1, False), (2, True)], [], [], []]
    s.target(2, 2)
    assert s.picture(2) == []                                   # not a switching point
    assert s.packet(0, 1, sync=True)[0]                         # a U bit: up from here
    assert s.picture(2) == [(0, False), (1, False), (2, True)]


def test_unknown_layers_are_forwarded():
    s = Selector()
    s.target(0, 0)
    assert s.packet(-1, -1, marker=False) == (True, False)
    assert s.s.dropped == 0


def test_back_to_every_layer_at_a_key_frame():
    s = Selector()
    s.target(0, 0)
    s.picture(0)
    s.target(-1, -1)
    assert s.s.target_spatial == ALL and s.picture(0) == [(0, True)]
    assert s.picture(0, key=True) == [(0, False), (1, False), (2, True)] and s.s.spatial == ALL
