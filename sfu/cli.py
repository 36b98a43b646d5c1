"""Command line: `sfu serve`, and the server API verbs `sfu token|room|dispatch`."""

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
        settings = config.load(args.config, body=body, port=args.port, udp_port=args.udp_port,
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
    import uvloop

    from .app import serve

    uvloop.run(serve(settings))
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


def _token(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from .auth import KeyProvider, VideoGrant

    flags = {f.name for f in fields(VideoGrant) if f.type in (bool, "bool", "bool | None")}
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
    key, secret = _credentials(args)
    token = KeyProvider({key: secret}).create(key, identity=args.identity, video=VideoGrant(**grant),
                                              ttl=args.ttl, name=args.name or "", metadata=args.metadata or "")
    print(token)
    return 0


def _print(msgs: object) -> None:
    import json

    from google.protobuf import json_format

    if isinstance(msgs, list):
        print(json.dumps([json_format.MessageToDict(m, preserving_proto_field_name=True) for m in msgs], indent=2))
    else:
        print(json.dumps(json_format.MessageToDict(msgs, preserving_proto_field_name=True), indent=2))  # type: ignore


async def _room_call(args: argparse.Namespace) -> None:
    from .api.client import RoomClient

    key, secret = _credentials(args)
    async with RoomClient(args.url, key, secret) as c:
        if args.action == "list":
            _print(await c.list_rooms(args.names or ()))
        elif args.action == "create":
            _print(await c.create_room(args.name, empty_timeout=args.empty_timeout,
                                       departure_timeout=args.departure_timeout,
                                       max_participants=args.max_participants, metadata=args.metadata or ""))
        elif args.action == "delete":
            await c.delete_room(args.name)
            print(f"deleted {args.name}")
        elif args.action == "participants":
            _print(await c.list_participants(args.name))


async def _dispatch_call(args: argparse.Namespace) -> None:
    from .api.client import AgentDispatchClient

    key, secret = _credentials(args)
    async with AgentDispatchClient(args.url, key, secret) as c:
        if args.action == "create":
            _print(await c.create_dispatch(args.room, args.agent_name, args.metadata or ""))
        elif args.action == "list":
            _print(await c.list_dispatch(args.room))
        elif args.action == "delete":
            _print(await c.delete_dispatch(args.id, args.room))


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
        return 0
    return run


def _api_options(p: argparse.ArgumentParser) -> None:
    import os

    p.add_argument("--url", default=os.environ.get("LIVEKIT_URL") or DEFAULT_URL,
                   help=f"server URL (LIVEKIT_URL, default {DEFAULT_URL})")
    p.add_argument("--api-key", help="API key (LIVEKIT_API_KEY, default devkey)")
    p.add_argument("--api-secret", help="API secret (LIVEKIT_API_SECRET, default secret)")


def _api_parsers(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("token", help="access tokens")
    tsub = t.add_subparsers(dest="action", required=True)
    tc = tsub.add_parser("create", help="print a signed access token")
    tc.add_argument("--identity", default="", help="participant identity (sub)")
    tc.add_argument("--room", default="", help="room the grant is for")
    tc.add_argument("--grant", help="comma-separated video grants, e.g. roomJoin,canPublish,canSubscribe "
                                    "(default: roomJoin with publish/subscribe/data)")
    tc.add_argument("--name", help="participant name")
    tc.add_argument("--metadata", help="participant metadata")
    tc.add_argument("--ttl", type=_ttl, default=6 * 3600, help="validity: seconds or 30m/6h/1d (6h)")
    tc.add_argument("--api-key", help="API key (LIVEKIT_API_KEY, default devkey)")
    tc.add_argument("--api-secret", help="API secret (LIVEKIT_API_SECRET, default secret)")
    tc.set_defaults(fn=_token)

    r = sub.add_parser("room", help="rooms, through the server API")
    rsub = r.add_subparsers(dest="action", required=True)
    rl = rsub.add_parser("list", help="list rooms (JSON)")
    rl.add_argument("names", nargs="*", help="only these rooms")
    rc = rsub.add_parser("create", help="create a room (idempotent)")
    rc.add_argument("name")
    rc.add_argument("--empty-timeout", type=int, default=0, help="seconds before a never-joined room closes")
    rc.add_argument("--departure-timeout", type=int, default=0, help="seconds after the last participant left")
    rc.add_argument("--max-participants", type=int, default=0)
    rc.add_argument("--metadata")
    rd = rsub.add_parser("delete", help="close a room; its participants are disconnected")
    rd.add_argument("name")
    rp = rsub.add_parser("participants", help="list a room's participants (JSON)")
    rp.add_argument("name")
    for x in (rl, rc, rd, rp):
        _api_options(x)
        x.set_defaults(fn=_api(_room_call))

    d = sub.add_parser("dispatch", help="agent dispatches, through the server API")
    dsub = d.add_subparsers(dest="action", required=True)
    dc = dsub.add_parser("create", help="dispatch an agent to a room")
    dc.add_argument("--room", required=True)
    dc.add_argument("--agent-name", required=True)
    dc.add_argument("--metadata")
    dl = dsub.add_parser("list", help="a room's dispatches (JSON)")
    dl.add_argument("--room", required=True)
    dd = dsub.add_parser("delete", help="delete a dispatch")
    dd.add_argument("--room", required=True)
    dd.add_argument("--id", required=True)
    for x in (dc, dl, dd):
        _api_options(x)
        x.set_defaults(fn=_api(_dispatch_call))


def _load_test(args: argparse.Namespace) -> int:
    from .loadtest import runner

    key, secret = _credentials(args)
    try:
        runner.parse_resolution(args.video_resolution)
    except ValueError as e:
        print(f"sfu load-test: {e}", file=sys.stderr)
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
                          bind_ip=args.bind_ip or "", num_per_second=args.num_per_second,
                          progress=not args.quiet)
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
    _api_options(lt)
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
    lt.add_argument("--num-per-second", type=float, default=0.0,
                    help="participants started per second during set-up (default: no limit, 16 at a time)")
    lt.add_argument("--bind-ip", help="local address of the simulated peers (default: the route to the server)")
    lt.add_argument("--json", metavar="FILE", help="also write the full report as JSON (- for stdout)")
    lt.add_argument("--quiet", action="store_true", help="no progress line every second")
    lt.set_defaults(fn=_load_test)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="sfu", description="LiveKit-compatible SFU")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--config", help="YAML config file (LIVEKIT_CONFIG holds a config body)")
    s.add_argument("--dev", action="store_true", help="development mode: keys devkey/secret, bind 127.0.0.1")
    s.add_argument("--port", type=int, help="HTTP/WebSocket port (7880)")
    s.add_argument("--udp-port", type=int, help="first media UDP port; worker i uses port+i (7882)")
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
    _load_test_parser(sub)
    args = p.parse_args(argv)
    sys.exit(args.fn(args))


if __name__ == "__main__":
    main()
