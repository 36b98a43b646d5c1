"""End to end: aiortc's RTCPeerConnection (real ICE + DTLS over UDP on 127.0.0.1) as the offering
client, against a driver that uses only the sans-IO ice_lite, dtls and sdp modules (plus the sctp
adapter for data channels)."""

from __future__ import annotations

import asyncio
import struct

import pytest

aiortc = pytest.importorskip("aiortc")
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack  # noqa: E402

from sfu.protocol.dtls import DtlsConnected, DtlsRole, DtlsState  # noqa: E402
from sfu.protocol.ice_lite import IceState  # noqa: E402
from sfu.protocol.sdp import SessionDescription  # noqa: E402

from helpers.sansio_peer import SansIoPeer  # noqa: E402

TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """aioice skips 127.0.0.1 when gathering; keep every packet of these tests on loopback."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def negotiate(pc: RTCPeerConnection, peer: SansIoPeer) -> tuple[SessionDescription, str]:
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers before returning
    offer_sdp = pc.localDescription.sdp
    answer_sdp = peer.answer_offer(offer_sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
    return SessionDescription.parse(offer_sdp), answer_sdp


@pytest.mark.parametrize("prefer_setup", ["active", "passive"])
def test_aiortc_audio_reaches_dtls_connected_and_srtp_decrypts(prefer_setup):
    async def main():
        peer = await SansIoPeer.create(prefer_setup=prefer_setup)
        pc = RTCPeerConnection()
        try:
            pc.addTrack(AudioStreamTrack())
            offer, answer_sdp = await negotiate(pc, peer)
            assert "a=ice-lite" in answer_sdp
            assert f"a=setup:{prefer_setup}" in answer_sdp
            event: DtlsConnected = await peer.connected
            assert peer.agent.state == IceState.CONNECTED
            assert peer.agent.selected is not None and peer.agent.selected[0] == "127.0.0.1"
            expected_role = DtlsRole.CLIENT if prefer_setup == "active" else DtlsRole.SERVER
            assert peer.dtls.role == expected_role and peer.dtls.state == DtlsState.CONNECTED
            assert len(event.local_key) == len(event.remote_key)

            # aiortc sends opus RTP from its sender SSRC; we decrypt it with the exported keys
            sender_ssrcs = set(offer.media[0].ssrcs().media_ssrcs)
            while len(peer.rtp) < 5:
                peer.rtp_arrived.clear()
                await peer.rtp_arrived.wait()
            opus_pt = peer.answer.info(offer.media[0].mid).codecs[0].pt
            for packet in peer.rtp[:5]:
                assert packet[0] >> 6 == 2
                pt = packet[1] & 0x7F
                (ssrc,) = struct.unpack_from("!I", packet, 8)
                assert pt == opus_pt and ssrc in sender_ssrcs
                assert len(packet) > 12
            assert peer.srtp_errors == 0
            # our answer is transmitted by aiortc's ICE through its own states as well
            assert pc.iceConnectionState == "completed" or pc.iceConnectionState == "connected"
            assert pc.connectionState == "connected"
        finally:
            await pc.close()
            await peer.close()

    run(main())


def test_aiortc_data_channels_both_ways():
    async def main():
        peer = await SansIoPeer.create(with_data_channels=True)
        pc = RTCPeerConnection()
        received_by_client: dict[str, list] = {"_reliable": [], "_lossy": []}
        client_done = asyncio.Event()
        server_messages: list[tuple[str, object]] = []
        server_done = asyncio.Event()
        try:
            reliable = pc.createDataChannel("_reliable", ordered=True)
            lossy = pc.createDataChannel("_lossy", ordered=False, maxRetransmits=0)
            for channel in (reliable, lossy):

                def make_handler(ch):
                    def on_message(message):
                        received_by_client[ch.label].append(message)
                        if all(len(v) >= 2 for v in received_by_client.values()):
                            client_done.set()

                    return on_message

                channel.on("message", make_handler(channel))

            await negotiate(pc, peer)
            await peer.connected
            while peer.sctp is None:
                await asyncio.sleep(0.01)

            def on_server_message(channel, message):
                server_messages.append((channel.label, message))
                # echo back, tagged, on the same channel
                channel.send(b"echo:" + (message if isinstance(message, bytes) else message.encode()))
                if len(server_messages) >= 4:
                    server_done.set()

            peer.sctp.on_message = on_server_message

            for channel in (reliable, lossy):
                if channel.readyState != "open":
                    opened = asyncio.Event()
                    channel.on("open", opened.set)
                    await opened.wait()
            reliable.send(b"\x01reliable-bytes")
            reliable.send("reliable-text")
            lossy.send(b"\x02lossy-bytes")
            lossy.send("lossy-text")
            await server_done.wait()
            await client_done.wait()

            labels = {ch.label: ch for ch in peer.sctp.channels.values()}
            assert set(labels) == {"_reliable", "_lossy"}
            assert labels["_reliable"].ordered and labels["_reliable"].maxRetransmits is None
            assert not labels["_lossy"].ordered and labels["_lossy"].maxRetransmits == 0
            assert sorted(server_messages, key=str) == sorted(
                [
                    ("_reliable", b"\x01reliable-bytes"),
                    ("_reliable", "reliable-text"),
                    ("_lossy", b"\x02lossy-bytes"),
                    ("_lossy", "lossy-text"),
                ],
                key=str,
            )
            assert received_by_client["_reliable"] == [b"echo:\x01reliable-bytes", b"echo:reliable-text"]
            assert sorted(received_by_client["_lossy"]) == [b"echo:\x02lossy-bytes", b"echo:lossy-text"]

            # and a channel opened by the server side reaches the client
            opened_on_client = asyncio.Event()
            client_channels = []

            @pc.on("datachannel")
            def on_datachannel(channel):
                client_channels.append(channel)
                opened_on_client.set()

            peer.sctp.open_channel("server-side", ordered=True)
            await opened_on_client.wait()
            assert client_channels[0].label == "server-side"
            assert client_channels[0].id % 2 == 0  # we are the DTLS client: even stream ids
            assert peer.sctp.errors == 0
        finally:
            await pc.close()
            await peer.close()

    run(main())
