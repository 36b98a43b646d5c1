"""What the server reports about itself: a LiveKit feature level clients gate on, our own
version apart."""

from __future__ import annotations

from sfu import __version__
from sfu.rooms.server_info import LIVEKIT_FEATURE_LEVEL, PROTOCOL_VERSION, server_info


def semver(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def test_version_passes_the_rpc_gate_and_not_the_svc_simulcast_one():
    info = server_info("ND_x")
    # livekit-client: RPC needs >= 1.8.0; rid simulcast of VP9/AV1 (videoLayerMode, which this
    # server does not honour) is used only above 1.13.6
    assert semver("1.8.0") <= semver(info.version) <= semver("1.13.6")
    assert info.version == LIVEKIT_FEATURE_LEVEL


def test_own_version_node_and_protocol():
    info = server_info("ND_x", region="eu")
    assert info.debug_info == f"sfu {__version__}"
    assert (info.node_id, info.region, info.protocol) == ("ND_x", "eu", PROTOCOL_VERSION)
    assert info.agent_protocol == 1 and info.edition == info.Standard
