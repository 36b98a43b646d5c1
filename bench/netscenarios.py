"""The scenario matrix of bench_network.py: who takes part, what each link does when.

Every scenario has one publisher ("pub": 720p simulcast + a 440 Hz sine) and one or two
subscribers.  Each participant has its own emulated link (bench/linkemu.py); `base`
settings hold from the start, then after the warm-up each phase sets the listed links
(directions not listed go back to `base`).  `targets` names, per phase and subscriber,
what the server must achieve there (nettargets.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Phase:
    name: str
    links: dict[str, dict[str, dict]]       # identity -> direction -> emulator settings
    targets: dict[str, str]                 # subscriber identity -> target kind
    seconds: float = 0.0                    # filled from --seconds


@dataclass
class Scenario:
    name: str
    description: str
    subscribers: list[str]
    phases: list[Phase]
    base: dict[str, dict[str, dict]] = field(default_factory=dict)

    def constrained(self) -> tuple[str, str] | None:
        """(identity, direction) of the link this scenario impairs, for the plot"""
        for ph in self.phases:
            for who, dirs in ph.links.items():
                for d in dirs:
                    return who, d
        for who, dirs in self.base.items():
            for d in dirs:
                return who, d
        return None


def matrix() -> list[Scenario]:
    return [
        Scenario("clean", "clean links everywhere: the reference", ["sub"],
                 [Phase("clean", {}, {"sub": "clean"})]),
        Scenario("down_steps", "subscriber downlink 600 kbit/s, then 250 kbit/s, then unlimited (40 ms delay)",
                 ["sub"],
                 [Phase("600k", {"sub": {"down": dict(rate=600_000, delay=40)}}, {"sub": "fit"}),
                  Phase("250k", {"sub": {"down": dict(rate=250_000, delay=40)}}, {"sub": "lowest"}),
                  Phase("open", {"sub": {"down": dict(rate=0, delay=40)}}, {"sub": "recover"})],
                 base={"sub": {"down": dict(delay=40)}}),
        Scenario("down_loss", "subscriber downlink 5 % random loss", ["sub"],
                 [Phase("loss5", {"sub": {"down": dict(loss=0.05)}}, {"sub": "loss"})]),
        Scenario("up_loss", "publisher uplink 5 % random loss", ["sub"],
                 [Phase("loss5", {"pub": {"up": dict(loss=0.05)}}, {"sub": "loss"})]),
        Scenario("up_800k", "publisher uplink 800 kbit/s", ["sub"],
                 [Phase("800k", {"pub": {"up": dict(rate=800_000)}}, {"sub": "stable"})]),
        Scenario("two_subs", "two subscribers of the same track, one of them on a 300 kbit/s downlink",
                 ["sub", "slow"],
                 [Phase("300k", {"slow": {"down": dict(rate=300_000)}}, {"sub": "unaffected", "slow": "lowest"})]),
    ]


def select(names: list[str] | None, seconds: float) -> list[Scenario]:
    out = []
    for sc in matrix():
        if names and sc.name not in names:
            continue
        for ph in sc.phases:
            ph.seconds = seconds
        out.append(sc)
    unknown = set(names or ()) - {sc.name for sc in matrix()}
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sc.name for sc in matrix())})")
    return out
