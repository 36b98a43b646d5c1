"""Command line: `sfu serve`; the server API verbs `sfu token|room|participant|dispatch`; `sfu record`,
`sfu ingest` (ffmpeg through plain RTP); `sfu load-test`."""

from __future__ import annotations

import argparse
import logging
import sys

from . import config


def _serve(args: argparse.Namespace) -> int:
    import os

    body = os.environ.get("LIVEKIT_CONFIG") if not args.config else None
    keys = config.parse_keys(args.keys) if args.keys else None
    try:
        settings = config.load(args.config, body=body, port=args.port, udp_port=args.udp_port, tcp_port=args.tcp_port,
                               workers=args.workers, node_ip=args.node_ip, keys=keys,
                               bind=args.bind or None, dev=True if args.dev else None,
                               log_level=args.log_level, single_pc=False if args.no_single_pc else None,
                               redis={"url": args.redis} if args.redis else None)
    except (config.ConfigError, OSError) as e:
        print(f"sfu: {e}", file=sys.stderr)
        return 2
    if args.dev and not args.bind and settings.bind == ["0.0.0.0"]:
        settings.bind = ["127.0.0.1"]  # like livekit-server --dev
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for key in settings.unimplemented:
        logging.getLogger("sfu.config").warning("config key %s is accepted but not implemented yet: ignored", key)
    import uvloop

    from .app import serve

    try:
        uvloop.run(serve(settings))
    except config.ConfigError as e:
        print(f"sfu: {e}", file=sys.stderr)
        return 2
    return 0


DEFAULT_URL = "http://127.0.0.1:7880"
TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    import os

    return (args.api_key or os.environ.get("LIVEKIT_API_KEY") or "devkey",
            args.api_secret or os.environ.get("LIVEKIT_API_SECRET") or "secret")


def _ttl(text: str) -> int:
    text = text.strip().lower()
    unit = TTL_UNITS.get(text[-1:], 0)
    try:
        return int(float(text[:-1] if unit else text) * (unit or 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 3600, 30m, 6h)") from None


def _bool_grants() -> set[str]:
    from dataclasses import fields

    from .auth import VideoGrant

    return {f.name for f in fields(VideoGrant) if f.type in (bool, "bool", "bool | None")}


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """KEY=VALUE arguments -> a dict"""
    out = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"{what} must be KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def _token(args: argparse.Namespace) -> int:
    import json

    from .auth import KeyProvider, VideoGrant

    flags = _bool_grants()
    grant: dict = {"room": args.room or ""}
    if args.grant:
        wanted = [g.strip() for g in args.grant.split(",") if g.strip()]
        unknown = [g for g in wanted if g not in flags]
        if unknown:
            print(f"sfu: unknown grant(s) {', '.join(unknown)}; known: {', '.join(sorted(flags))}", file=sys.stderr)
            return 2
        # the listed grants are exactly what the token carries
        grant.update({"canPublish": False, "canSubscribe": False, "canPublishData": False})
        grant.update({g: True for g in wanted})
    else:
        grant["roomJoin"] = True
    if args.can_publish_sources:
        grant["canPublishSources"] = [x.strip() for x in args.can_publish_sources.split(",") if x.strip()]
    if args.destination_room:
        grant["destinationRoom"] = args.destination_room
    extra: dict = {}
    try:
        if args.attribute:
            extra["attributes"] = _pairs(args.attribute, "--attribute")
        if args.room_config:
            extra["roomConfig"] = json.loads(args.room_config)
    except ValueError as e:
        print(f"sfu: {e}", file=sys.stderr)
        return 2
    if args.kind:
        extra["kind"] = args.kind
    key, secret = _credentials(args)
    token = KeyProvider({key: secret}).create(key, identity=args.identity, video=VideoGrant(**grant),
                                              ttl=args.ttl, name=args.name or "", metadata=args.metadata or "",
                                              **extra)
    if args.json:
        _print_json({"token": token, "identity": args.identity, "room": args.room or "", "grants": grant,
                     "ttl": args.ttl, **extra})
    else:
        print(token)
    return 0


def _print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2))


def _as_dict(msg: object) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(msg, preserving_proto_field_name=True)  # type: ignore[arg-type]


# the columns of a list, by message type (all of it is in --json)
COLUMNS = {
    "Room": ("name", "sid", "num_participants", "num_publishers", "metadata"),
    "ParticipantInfo": ("identity", "sid", "state", "kind", "name", "tracks"),
    "AgentDispatch": ("id", "agent_name", "room", "metadata"),
}


def _cell(value: object) -> str:
    import json

    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _print(msgs: object, as_json: bool = False) -> None:
    """protobuf messages: JSON with --json; else a table (lists) or one `field: value` a line
    (a list field shows its length)"""
    if as_json:
        _print_json([_as_dict(m) for m in msgs] if isinstance(msgs, list) else _as_dict(msgs))
        return
    if isinstance(msgs, list):
        if not msgs:
            print("(none)")
            return
        cols = COLUMNS.get(type(msgs[0]).__name__) or tuple(_as_dict(msgs[0]))
        rows = [[_cell(_as_dict(m).get(c, "")) for c in cols] for m in msgs]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        for r in [list(cols), *rows]:
            print("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
        return
    for k, v in _as_dict(msgs).items():
        print(f"{k}: {_cell(v)}")


def _done(args: argparse.Namespace, what: str) -> None:
    if args.json:
        _print_json({})
    else:
        print(what)


def _permission(args: argparse.Namespace, current: object) -> object:
    """the participant's `current` permission with the flags applied: --permission sets exactly
    the listed booleans, --can-publish-sources exactly those sources; what no flag names is kept
    (UpdateParticipant replaces the whole permission)"""
    from livekit.protocol import models

    perm = models.ParticipantPermission()
    perm.CopyFrom(current)  # type: ignore[arg-type]
    names = {f.name for f in perm.DESCRIPTOR.fields if f.type == f.TYPE_BOOL}
    if args.permission is not None:
        wanted = {x.strip() for x in args.permission.split(",") if x.strip()}
        for name in names:
            setattr(perm, name, name in wanted)
    if args.can_publish_sources is not None:
        del perm.can_publish_sources[:]
        for src in (x.strip() for x in args.can_publish_sources.split(",")):
            if src:
                perm.can_publish_sources.append(models.TrackSource.Value(src.upper()))
    return perm


def _check_permission_flags(args: argparse.Namespace) -> None:
    """unknown names fail before anything is read or changed"""
    from livekit.protocol import models

    names = {f.name for f in models.ParticipantPermission.DESCRIPTOR.fields if f.type == f.TYPE_BOOL}
    for name in (x.strip() for x in (args.permission or "").split(",")):
        if name and name not in names:
            raise ValueError(f"unknown permission {name!r}; known: {', '.join(sorted(names))}")
    for src in (x.strip() for x in (args.can_publish_sources or "").split(",")):
        if src and src.upper() not in models.TrackSource.keys():
            raise ValueError(f"unknown source {src!r}; known: "
                             f"{', '.join(k.lower() for k in models.TrackSource.keys())}")


async def _room_call(args: argparse.Namespace) -> None:
    from livekit.protocol import models

    from .api.client import RoomClient

    key, secret = _credentials(args)
    async with RoomClient(args.url, key, secret) as c:
        if args.action == "list":
            _print(await c.list_rooms(args.names or ()), args.json)
        elif args.action == "create":
            _print(await c.create_room(args.name, empty_timeout=args.empty_timeout,
                                       departure_timeout=args.departure_timeout,
                                       max_participants=args.max_participants, metadata=args.metadata or ""),
                   args.json)
        elif args.action == "delete":
            await c.delete_room(args.name)
            _done(args, f"deleted {args.name}")
        elif args.action == "update-metadata":
            _print(await c.update_room_metadata(args.name, args.metadata), args.json)
        elif args.action == "participants":
            _print(await c.list_participants(args.name), args.json)
        elif args.action == "send-data":
            kind = models.DataPacket.LOSSY if args.lossy else models.DataPacket.RELIABLE
            await c.send_data(args.room, args.data.encode(), kind=kind, destination_identities=args.identity or (),
                              topic=args.topic)
            _done(args, f"sent {len(args.data.encode())} bytes to {args.room}")


async def _participant_call(args: argparse.Namespace) -> None:
    from .api.client import RoomClient

    key, secret = _credentials(args)
    async with RoomClient(args.url, key, secret) as c:
        if args.action == "list":
            _print(await c.list_participants(args.room), args.json)
        elif args.action == "get":
            _print(await c.get_participant(args.room, args.identity), args.json)
        elif args.action == "remove":
            await c.remove_participant(args.room, args.identity)
            _done(args, f"removed {args.identity} from {args.room}")
        elif args.action == "update":
            attributes = _pairs(args.attribute, "--attribute")
            permission = None
            if args.permission is not None or args.can_publish_sources is not None:
                _check_permission_flags(args)
                current = (await c.get_participant(args.room, args.identity)).permission
                permission = _permission(args, current)
            _print(await c.update_participant(args.room, args.identity, metadata=args.metadata or "",
                                              name=args.name or "", attributes=attributes,
                                              permission=permission), args.json)  # type: ignore[arg-type]
        elif args.action == "mute-track":
            _print(await c.mute_published_track(args.room, args.identity, args.track, muted=not args.unmute),
                   args.json)
        elif args.action == "update-subscriptions":
            await c.update_subscriptions(args.room, args.identity, args.track, subscribe=not args.unsubscribe)
            _done(args, f"{'unsubscribed' if args.unsubscribe else 'subscribed'} {args.identity}: "
                        f"{', '.join(args.track)}")


async def _dispatch_call(args: argparse.Namespace) -> None:
    from .api.client import AgentDispatchClient

    key, secret = _credentials(args)
    async with AgentDispatchClient(args.url, key, secret) as c:
        if args.action == "create":
            _print(await c.create_dispatch(args.room, args.agent_name, args.metadata or ""), args.json)
        elif args.action == "list":
            _print(await c.list_dispatch(args.room), args.json)
        elif args.action == "delete":
            _print(await c.delete_dispatch(args.id, args.room), args.json)


def _api(fn: object) -> object:
    def run(args: argparse.Namespace) -> int:
        import asyncio

        import aiohttp

        from .api.client import TwirpError

        try:
            asyncio.run(fn(args))  # type: ignore[operator]
        except TwirpError as e:
            print(f"sfu: {e.code}: {e.msg}", file=sys.stderr)
            return 1
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
            print(f"sfu: cannot reach {args.url}: {e or type(e).__name__}", file=sys.stderr)
            return 1
        except (LookupError, ValueError) as e:
            print(f"sfu: {e}", file=sys.stderr)
            return 1
        return 0
    return run


def _api_options(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    import os

    p.add_argument("--url", default=os.environ.get("LIVEKIT_URL") or DEFAULT_URL,
                   help=f"server URL (LIVEKIT_URL, default {DEFAULT_URL})")
    p.add_argument("--api-key", help="API key (LIVEKIT_API_KEY, default devkey)")
    p.add_argument("--api-secret", help="API secret (LIVEKIT_API_SECRET, default secret)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="output as JSON")


def _api_parsers(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("token", help="access tokens")
    tsub = t.add_subparsers(dest="action", required=True)
    tc = tsub.add_parser("create", help="print a signed access token")
    tc.add_argument("--identity", default="", help="participant identity (sub)")
    tc.add_argument("--room", default="", help="room the grant is for")
    tc.add_argument("--grant", help="comma-separated video grants, exactly those: " + ",".join(sorted(_bool_grants()))
                    + " (default: roomJoin with publish/subscribe/data)")
    tc.add_argument("--can-publish-sources", help="canPublishSources: camera,microphone,screen_share,"
                                                  "screen_share_audio")
    tc.add_argument("--destination-room", help="destinationRoom")
    tc.add_argument("--name", help="participant name")
    tc.add_argument("--metadata", help="participant metadata")
    tc.add_argument("--attribute", action="append", metavar="KEY=VALUE", help="participant attribute (repeatable)")
    tc.add_argument("--kind", help="participant kind (agent, egress, ingress, sip)")
    tc.add_argument("--room-config", help="roomConfig, JSON (e.g. the agents to dispatch)")
    tc.add_argument("--ttl", type=_ttl, default=6 * 3600, help="validity: seconds or 30m/6h/1d (6h)")
    tc.add_argument("--api-key", help="API key (LIVEKIT_API_KEY, default devkey)")
    tc.add_argument("--api-secret", help="API secret (LIVEKIT_API_SECRET, default secret)")
    tc.add_argument("--json", action="store_true", help="the token and its grants as JSON")
    tc.set_defaults(fn=_token)

    r = sub.add_parser("room", help="rooms, through the server API")
    rsub = r.add_subparsers(dest="action", required=True)
    rl = rsub.add_parser("list", help="list rooms")
    rl.add_argument("names", nargs="*", help="only these rooms")
    rc = rsub.add_parser("create", help="create a room (idempotent)")
    rc.add_argument("name")
    rc.add_argument("--empty-timeout", type=int, default=0, help="seconds before a never-joined room closes")
    rc.add_argument("--departure-timeout", type=int, default=0, help="seconds after the last participant left")
    rc.add_argument("--max-participants", type=int, default=0)
    rc.add_argument("--metadata")
    rd = rsub.add_parser("delete", help="close a room; its participants are disconnected")
    rd.add_argument("name")
    rm = rsub.add_parser("update-metadata", help="set a room's metadata")
    rm.add_argument("name")
    rm.add_argument("metadata")
    rp = rsub.add_parser("participants", help="a room's participants (as `sfu participant list --room NAME`)")
    rp.add_argument("name")
    rs = rsub.add_parser("send-data", help="a data packet from the server to a room's participants")
    rs.add_argument("--room", required=True)
    rs.add_argument("--data", required=True, help="the payload (text)")
    rs.add_argument("--topic")
    rs.add_argument("--identity", action="append", help="only to this participant (repeatable)")
    rs.add_argument("--lossy", action="store_true", help="on the lossy data channel (default: reliable)")
    for x in (rl, rc, rd, rm, rp, rs):
        _api_options(x)
        x.set_defaults(fn=_api(_room_call))

    p = sub.add_parser("participant", help="a room's participants, through the server API")
    psub = p.add_subparsers(dest="action", required=True)
    pl = psub.add_parser("list", help="a room's participants")
    pg = psub.add_parser("get", help="one participant")
    pr = psub.add_parser("remove", help="disconnect a participant")
    pu = psub.add_parser("update", help="change a participant's name, metadata, attributes or permissions")
    pu.add_argument("--name")
    pu.add_argument("--metadata")
    pu.add_argument("--attribute", action="append", metavar="KEY=VALUE",
                    help="set an attribute; KEY= removes it (repeatable)")
    pu.add_argument("--permission", help="exactly these permissions: can_subscribe,can_publish,can_publish_data,"
                                         "hidden,can_update_metadata,... (\"\": none; not given: unchanged)")
    pu.add_argument("--can-publish-sources", help="the sources it may publish: camera,microphone,screen_share,... "
                                                  "(\"\": any; not given: unchanged; the other permissions "
                                                  "are kept)")
    pm = psub.add_parser("mute-track", help="mute one of a participant's tracks")
    pm.add_argument("--track", required=True, help="track sid")
    pm.add_argument("--unmute", action="store_true", help="unmute (needs room.enable_remote_unmute)")
    ps = psub.add_parser("update-subscriptions", help="subscribe a participant to tracks (or unsubscribe)")
    ps.add_argument("--track", required=True, action="append", help="track sid (repeatable)")
    ps.add_argument("--unsubscribe", action="store_true")
    for x in (pl, pg, pr, pu, pm, ps):
        x.add_argument("--room", required=True)
        if x is not pl:
            x.add_argument("--identity", required=True)
        _api_options(x)
        x.set_defaults(fn=_api(_participant_call))

    d = sub.add_parser("dispatch", help="agent dispatches, through the server API")
    dsub = d.add_subparsers(dest="action", required=True)
    dc = dsub.add_parser("create", help="dispatch an agent to a room")
    dc.add_argument("--room", required=True)
    dc.add_argument("--agent-name", required=True)
    dc.add_argument("--metadata")
    dl = dsub.add_parser("list", help="a room's dispatches")
    dl.add_argument("--room", required=True)
    dd = dsub.add_parser("delete", help="delete a dispatch")
    dd.add_argument("--room", required=True)
    dd.add_argument("--id", required=True)
    for x in (dc, dl, dd):
        _api_options(x)
        x.set_defaults(fn=_api(_dispatch_call))


async def _until(duration: float) -> None:
    """`duration` seconds (0: until SIGINT/SIGTERM)"""
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), duration or None)
    except asyncio.TimeoutError:
        pass


async def _record_call(args: argparse.Namespace) -> None:
    from .control import RemoteServer, record

    key, secret = _credentials(args)
    async with RemoteServer(args.url, key, secret) as server:
        rec = await record(server, args.room, args.dir, track_sids=args.track or None,
                           audio_container=args.audio_container, receiver_ip=args.receiver_ip)
        for t in rec.tracks:
            print(f"recording {t.track_sid} ({t.kind}) to {t.path}", file=sys.stderr)
        try:
            await _until(args.duration)
        finally:
            await rec.stop()
        _print_json({"room": args.room, "files": {sid: str(p) for sid, p in rec.files.items()}})


async def _ingest_call(args: argparse.Namespace) -> None:
    import shlex

    from .control import RemoteServer, ingest

    key, secret = _credentials(args)
    async with RemoteServer(args.url, key, secret) as server:
        ing = await ingest(server, args.room, args.identity, input_args=shlex.split(args.input) if args.input else None,
                           audio=not args.no_audio, video=not args.no_video, name=args.name or "",
                           log_path=args.ffmpeg_log)
        _print_json({"room": args.room, "identity": args.identity, "track_sids": ing.track_sids})
        sys.stdout.flush()
        try:
            await _until(args.duration)
        finally:
            await ing.stop()


def _media_parsers(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("record", help="record a room's tracks with ffmpeg (opus to .ogg, VP8 to .webm)")
    r.add_argument("--room", required=True)
    r.add_argument("--track", action="append", help="a track sid to record (repeatable; default: every track)")
    r.add_argument("--dir", default=".", help="directory of the files (IDENTITY-TRACKSID.ogg/.webm/.sdp)")
    r.add_argument("--duration", type=float, default=0.0, help="seconds (default: until Ctrl-C)")
    r.add_argument("--audio-container", choices=("ogg", "webm"), default="ogg")
    r.add_argument("--receiver-ip", help="the address the server sends RTP to (default: its own; ffmpeg runs "
                                         "on the server's host)")
    _api_options(r)
    r.set_defaults(fn=_api(_record_call))
    i = sub.add_parser("ingest", help="publish an ffmpeg source in a room (opus + VP8) as a participant")
    i.add_argument("--room", required=True)
    i.add_argument("--identity", default="ingest", help="the participant's identity (ingest)")
    i.add_argument("--name", help="participant and track name")
    i.add_argument("--input", help="ffmpeg input options, e.g. \"-re -i talk.mp4\" (default: a 440 Hz tone and a "
                                   "test pattern)")
    i.add_argument("--no-audio", action="store_true")
    i.add_argument("--no-video", action="store_true")
    i.add_argument("--duration", type=float, default=0.0, help="seconds (default: until Ctrl-C)")
    i.add_argument("--ffmpeg-log", help="file for ffmpeg's messages")
    _api_options(i)
    i.set_defaults(fn=_api(_ingest_call))


def _load_test(args: argparse.Namespace) -> int:
    from .loadtest import runner

    key, secret = _credentials(args)
    try:
        runner.parse_resolution(args.video_resolution)
    except ValueError as e:
        print(f"sfu load-test: {e}", file=sys.stderr)
        return 2
    if not 0 <= args.receivers <= 64:
        print("sfu load-test: --receivers must be 0 (one per CPU) .. 64", file=sys.stderr)
        return 2
    if args.duration <= 0 or args.rooms < 1 or args.num_per_second < 0 or \
            min(args.video_publishers, args.audio_publishers, args.subscribers) < 0:
        print("sfu load-test: --duration and --rooms must be positive, counts not negative", file=sys.stderr)
        return 2
    opts = runner.Options(url=args.url, api_key=key, api_secret=secret, rooms=args.rooms,
                          room_prefix=args.room, video_publishers=args.video_publishers,
                          audio_publishers=args.audio_publishers, subscribers=args.subscribers,
                          duration=args.duration, video_resolution=args.video_resolution,
                          video_bitrate=args.video_bitrate, video_fps=args.video_fps, simulcast=args.simulcast,
                          video_codec=args.video_codec,
                          bind_ip=args.bind_ip or "", num_per_second=args.num_per_second,
                          progress=not args.quiet, receivers=args.receivers,
                          simulate_speakers=args.simulate_speakers)
    return runner.main(opts, args.json)


def _bitrate(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1000, "m": 1000_000}.get(text[-1:], 1)
    try:
        return int(float(text[:-1] if mult > 1 else text) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad bitrate {text!r} (e.g. 800000, 800k, 1.5m)") from None


def _load_test_parser(sub: argparse._SubParsersAction) -> None:
    lt = sub.add_parser("load-test", help="simulated publishers and subscribers (real ICE/DTLS/SRTP, media in C)")
    _api_options(lt, json_flag=False)
    lt.add_argument("--room", default="load-test", help="room name (prefix with --rooms > 1)")
    lt.add_argument("--rooms", type=int, default=1, help="rooms, each with the participants below (1)")
    lt.add_argument("--video-publishers", type=int, default=1, help="video publishers per room (1)")
    lt.add_argument("--audio-publishers", type=int, default=0, help="audio publishers per room (0)")
    lt.add_argument("--subscribers", type=int, default=1, help="subscribers per room; each gets every track (1)")
    lt.add_argument("--duration", type=float, default=30.0, help="seconds of media (30)")
    lt.add_argument("--video-resolution", default="720p", help="180p/360p/540p/720p/1080p or WxH (720p)")
    lt.add_argument("--video-bitrate", type=_bitrate, default=0,
                    help="bits/s per video track, all layers (default by resolution, 720p: 1.7m)")
    lt.add_argument("--video-fps", type=float, default=30.0)
    lt.add_argument("--simulcast", action="store_true", help="publish video as three layers (q/h/f)")
    lt.add_argument("--video-codec", default="vp8", choices=("vp8", "vp9", "h264", "av1"),
                    help="the video codec published (its payload descriptors and key frames; vp8)")
    lt.add_argument("--num-per-second", type=float, default=0.0,
                    help="participants started per second during set-up (default: no limit, 16 at a time)")
    lt.add_argument("--bind-ip", help="local address of the simulated peers (default: the route to the server)")
    lt.add_argument("--json", metavar="FILE", help="also write the full report as JSON (- for stdout)")
    lt.add_argument("--quiet", action="store_true", help="no progress line every second")
    lt.add_argument("--simulate-speakers", action="store_true",
                    help="audio publishers take turns speaking (RFC 6464 audio level); the report says how "
                         "soon subscribers were told (SpeakersChanged)")
    lt.add_argument("--receivers", type=int, default=0,
                    help="receiver threads, each reading its share of the subscribers' sockets "
                         "(default: one per CPU, at most 8)")
    lt.set_defaults(fn=_load_test)


def _agent_load_test(args: argparse.Namespace) -> int:
    from .loadtest import agents

    key, secret = _credentials(args)
    if args.rooms < 1 or args.pings < 0 or args.ping_interval < 0 or args.join_timeout <= 0 or args.concurrency < 1:
        print("sfu agent-load-test: --rooms and --concurrency must be >= 1, --pings and --ping-interval not "
              "negative, --join-timeout positive", file=sys.stderr)
        return 2
    opts = agents.Options(url=args.url, api_key=key, api_secret=secret, agent_name=args.agent_name,
                          rooms=args.rooms, room_prefix=args.room, pings=args.pings,
                          ping_interval=args.ping_interval, join_timeout=args.join_timeout,
                          concurrency=args.concurrency, bind_ip=args.bind_ip or "")
    return agents.main(opts, args.json)


def _agent_load_test_parser(sub: argparse._SubParsersAction) -> None:
    at = sub.add_parser("agent-load-test",
                        help="rooms that each dispatch an agent: dispatch latency and echo round trips "
                             "(as lk perf agent-load-test; examples/echo_agent.py echoes)")
    _api_options(at, json_flag=False)
    at.add_argument("--agent-name", required=True, help="the agent to dispatch (AgentDispatchService)")
    at.add_argument("--rooms", type=int, default=1, help="rooms, one agent dispatched into each (1)")
    at.add_argument("--room", default="agent-load", help="room name prefix (agent-load)")
    at.add_argument("--pings", type=int, default=10,
                    help="echo round trips per room: data to the agent on topic sfu-echo, its reply on "
                         "sfu-echo-reply (10; 0: dispatch only)")
    at.add_argument("--ping-interval", type=float, default=0.2, help="seconds between two pings of a room (0.2)")
    at.add_argument("--join-timeout", type=float, default=20.0,
                    help="seconds for the agent to join after its dispatch (20)")
    at.add_argument("--concurrency", type=int, default=16, help="rooms set up at once (16)")
    at.add_argument("--bind-ip", help="local address of the simulated participants (default: the route to the server)")
    at.add_argument("--json", metavar="FILE", help="also write the full report as JSON (- for stdout)")
    at.set_defaults(fn=_agent_load_test)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="sfu", description="LiveKit-compatible SFU")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--config", help="YAML config file (LIVEKIT_CONFIG holds a config body)")
    s.add_argument("--dev", action="store_true", help="development mode: keys devkey/secret, bind 127.0.0.1")
    s.add_argument("--port", type=int, help="HTTP/WebSocket port (7880)")
    s.add_argument("--udp-port", type=int, help="first media UDP port; worker i uses port+i (7882)")
    s.add_argument("--tcp-port", type=int, help="ICE over TCP port, one for all workers (7881; 0: none)")
    s.add_argument("--workers", type=int, help="media worker processes (default: one per core)")
    s.add_argument("--node-ip", help="IP address announced to clients")
    s.add_argument("--bind", action="append", help="HTTP bind address (repeatable)")
    s.add_argument("--keys", help="API keys, 'key: secret[, key2: secret2]' (or LIVEKIT_KEYS)")
    s.add_argument("--log-level", help="DEBUG, INFO, WARNING")
    s.add_argument("--no-single-pc", action="store_true",
                   help="answer /rtc/v1 with 404 so clients use /rtc with two PeerConnections")
    s.add_argument("--redis", help="Redis URL (redis://host:port/db): run as one node of a cluster")
    s.set_defaults(fn=_serve)
    _api_parsers(sub)
    _media_parsers(sub)
    _load_test_parser(sub)
    _agent_load_test_parser(sub)
    args = p.parse_args(argv)
    sys.exit(args.fn(args))


if __name__ == "__main__":
    main()
