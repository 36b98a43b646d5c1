"""Command line: `sfu serve` (more verbs arrive with the server API)."""

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
                               log_level=args.log_level, single_pc=False if args.no_single_pc else None)
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
    s.set_defaults(fn=_serve)
    args = p.parse_args(argv)
    sys.exit(args.fn(args))


if __name__ == "__main__":
    main()
