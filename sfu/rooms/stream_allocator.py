"""Which layer of each of a subscriber's tracks fits its downlink: the stream allocation of
one subscriber transport, pure (no IO; time is an argument).

Given the bandwidth estimate of the subscriber's transport (bits/s), audio is allocated
first, off the top; video gets what is left, by priority (a screen share before a camera,
then the UpdateTrackSettings priority, then the larger requested quality/size): every
video its lowest layer first, then upgrades one layer at a time, lowest layers first, while
the sum fits.  A video that cannot get even its lowest layer is paused and its subscriber
told (StreamStateUpdate PAUSED), and told again (ACTIVE) when it resumes.

So that the decision does not follow every wobble of the estimate: a downgrade is immediate,
an upgrade (a resume included) needs the estimate to exceed the new sum by UPGRADE_MARGIN,
moves a track one layer per allocation (a track seen for the first time goes where it fits at
once), and waits UPGRADE_HOLD after a downgrade for bandwidth; the wait doubles (to
UPGRADE_HOLD_MAX) when a downgrade undoes an upgrade within FAILED_UPGRADE_WINDOW.  An estimate
HOLD_BYPASS times the new sum is no wobble: that upgrade does not wait (a link that opened
again after a pause resumes at once, whatever the hold grew to).

Without an estimate (None) every subscription gets the layer sfu.rooms.layer_selector picks
and nothing is paused: what the server does when it knows nothing of the downlink.

With an estimate the allocation also says what it would want (`wanted`: every track's best
layer, with the upgrade margin): the data plane probes the downlink while the estimate is
below that (csrc/rtc/probe_controller.c).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livekit.protocol import models

from .layer_selector import select_layer

LOW, MEDIUM, HIGH = models.VideoQuality.LOW, models.VideoQuality.MEDIUM, models.VideoQuality.HIGH

UPGRADE_MARGIN = 0.15          # an upgrade needs estimate >= (1 + margin) * the new sum
UPGRADE_HOLD = 3.0             # s without upgrades after a downgrade for bandwidth
UPGRADE_HOLD_MAX = 24.0        # s, the hold after repeated failed upgrades
FAILED_UPGRADE_WINDOW = 6.0    # s: a downgrade this soon after an upgrade doubles the hold
HOLD_BYPASS = 2.0              # an upgrade to a sum the estimate covers this many times is not held

# what a layer is counted for while its bitrate is neither measured nor advertised
# (livekit-client's default simulcast encodings: 180p, 360p, 720p)
DEFAULT_VIDEO_BITRATE = {LOW: 150_000, MEDIUM: 500_000, HIGH: 1_700_000}
DEFAULT_AUDIO_BITRATE = 40_000     # Opus speech with its RTP overhead

PRIORITY_SCREEN_SHARE = 255        # LiveKit's defaults when the subscriber gives none
PRIORITY_VIDEO = 1

# why a subscription got what it got
NO_ESTIMATE = "no estimate"        # today's choice: sfu.rooms.layer_selector
AUDIO = "audio"                    # always allocated
DISABLED = "disabled"              # the subscriber turned it off: it takes nothing
NO_LAYERS = "no layers"
OPTIMAL = "optimal"                # the best layer it may have
BANDWIDTH = "bandwidth"            # less than it asked for (or paused): the estimate
HELD = "held"                      # it fits higher, but an upgrade waits (hysteresis)


@dataclass(frozen=True)
class LayerState:
    """a layer (simulcast encoding) of a track as the allocator sees it"""
    quality: int                   # models.VideoQuality
    bitrate: int = 0               # measured, bits/s; 0 = not measured
    payload_bitrate: int = 0       # measured, of RTP payload (what a RED block repeats)
    advertised: int = 0            # TrackInfo.layers[].bitrate; 0 = not advertised
    active: bool = True            # usable (sfu.rooms.layer_activity)
    temporal: int = -1             # the highest temporal layer it forwards (SVC); -1 = every one

    @property
    def rank(self) -> tuple[int, int]:
        """its place among a track's layers: by quality, fewer temporal layers first"""
        return (self.quality, self.temporal if self.temporal >= 0 else 99)


@dataclass(frozen=True)
class Demand:
    """one subscription of the subscriber"""
    key: str                       # the track sid
    kind: str                      # "audio" | "video"
    layers: tuple[LayerState, ...]
    disabled: bool = False
    max_quality: int = HIGH        # from UpdateTrackSettings quality or width/height
    source: int = models.TrackSource.CAMERA
    priority: int = 0              # UpdateTrackSettings.priority; 0 = by source
    size: int = 0                  # requested width * height; 0 = not given
    current: int | None = None     # the quality forwarded when the allocator first sees it
    current_temporal: int = -1     # ... and its highest temporal layer (-1: every one)
    red_blocks: int = 0            # audio the subscriber negotiated RED for: earlier blocks a packet carries


@dataclass(frozen=True)
class Decision:
    key: str
    quality: int | None            # the layer to be on; None: the track has no layer
    paused: bool                   # forward nothing: it does not fit
    reason: str
    bitrate: int = 0               # what it is counted for
    red: bool = False              # audio: send it as RED (its earlier blocks fit too)
    temporal: int = -1             # the highest temporal layer to forward (SVC); -1 = every one


@dataclass
class Allocation:
    decisions: dict[str, Decision]
    paused: list[str] = field(default_factory=list)     # paused for bandwidth since the last allocation
    resumed: list[str] = field(default_factory=list)    # forwarding again after such a pause
    used: int = 0                                        # bits/s allocated
    wanted: int = 0      # bits/s the estimate would need for every track's best layer (upgrade margin included)


def layer_cost(layer: LayerState, kind: str = "video") -> int:
    """bits/s a layer is counted for: measured, else advertised, else a default by quality"""
    if layer.bitrate > 0:
        return layer.bitrate
    if layer.advertised > 0:
        return layer.advertised
    return DEFAULT_AUDIO_BITRATE if kind == "audio" else DEFAULT_VIDEO_BITRATE.get(layer.quality, 500_000)


def audio_cost(d: Demand, red: bool | None = None) -> int:
    """bits/s an audio subscription is counted for: its layer, and as RED (`red`, by default
    whenever it was negotiated) each earlier block again (measured payload, else two thirds of
    the layer's cost)"""
    layer = d.layers[0]
    cost = layer_cost(layer, "audio")
    if d.red_blocks and (red is None or red):
        cost += d.red_blocks * (layer.payload_bitrate if layer.payload_bitrate > 0 else cost // 3 * 2)
    return cost


def candidates(d: Demand) -> list[LayerState]:
    """the layers a video may be given, lowest first: the usable ones (every one if none
    is) not above its max quality (the lowest if none is that low)"""
    ordered = sorted(d.layers, key=lambda x: x.rank)
    usable = [x for x in ordered if x.active] or ordered
    fit = [x for x in usable if x.quality <= d.max_quality]
    return fit or usable[:1]


def priority_order(d: Demand) -> tuple:
    """sort key: who gets a layer first"""
    share = d.source == models.TrackSource.SCREEN_SHARE
    prio = d.priority or (PRIORITY_SCREEN_SHARE if share else PRIORITY_VIDEO)
    return (not share, -prio, -d.max_quality, -d.size, d.key)


class StreamAllocator:
    """the allocation state of one subscriber transport"""

    def __init__(self) -> None:
        self._level: dict[str, tuple[int, int] | None] = {}   # key -> rank allocated last time, None = paused
        self._state: dict[str, bool] = {}           # key -> paused as the subscriber was last told
        self._red: dict[str, bool] = {}             # audio key -> sent as RED last time
        self._hold_until = 0.0
        self._hold = UPGRADE_HOLD
        self._last_upgrade = -1e9

    def allocate(self, estimate: int | None, now: float, demands: list[Demand]) -> Allocation:
        keys = {d.key for d in demands}
        for gone in [k for k in self._level if k not in keys]:
            del self._level[gone]
        for gone in [k for k in self._state if k not in keys]:
            del self._state[gone]
        for gone in [k for k in self._red if k not in keys]:
            del self._red[gone]
        if estimate is None:
            out = Allocation({d.key: unmanaged(d) for d in demands})
        else:
            out = self._fit(estimate, now, demands)
        for d in demands:
            dec = out.decisions[d.key]
            if dec.reason in (DISABLED, NO_LAYERS):
                continue          # not streaming, but not for bandwidth: the subscriber is not told
            was_paused = self._state.get(d.key, False)
            if dec.paused != was_paused:
                (out.paused if dec.paused else out.resumed).append(d.key)
            self._state[d.key] = dec.paused
        return out

    # -- with an estimate ------------------------------------------------------------------------
    def _fit(self, estimate: int, now: float, demands: list[Demand]) -> Allocation:
        decisions: dict[str, Decision] = {}
        used = 0
        for d in demands:
            if d.kind != "video":
                cost = 0 if d.disabled or not d.layers else audio_cost(d, red=False)
                decisions[d.key] = Decision(d.key, d.layers[0].quality if d.layers else None, False,
                                            DISABLED if d.disabled else AUDIO, cost)
                used += cost
        video = sorted((d for d in demands if d.kind == "video"), key=priority_order)
        for d in video:
            if d.disabled or not d.layers:
                decisions[d.key] = unmanaged(d)
        video = [d for d in video if not d.disabled and d.layers]
        cands = {d.key: candidates(d) for d in video}
        costs = {k: [layer_cost(x) for x in c] for k, c in cands.items()}
        # where each one is now, as an index into its candidates (-1: paused)
        base = {d.key: self._base_index(d, cands[d.key]) for d in video}
        level = {d.key: -1 for d in video}

        held = now < self._hold_until
        red_audio = [d for d in demands if d.kind != "video" and d.red_blocks and d.layers and not d.disabled]
        red_done = False

        def add_red() -> None:
            """RED for the audio that negotiated it, after every video's lowest layer and before
            any higher one: its redundancy is an upgrade of the audio, kept within the estimate,
            taken on with the margin and not while held"""
            nonlocal used
            lowest_for_all = all(level[v.key] >= 0 for v in video)
            for d in red_audio:
                dec = decisions[d.key]
                delta = audio_cost(d, red=True) - dec.bitrate
                was = self._red.get(d.key, True)
                limit = estimate if was else estimate / (1 + UPGRADE_MARGIN)
                on = lowest_for_all and used + delta <= limit and \
                    (was or not held or estimate >= HOLD_BYPASS * (used + delta))
                if on:
                    used += delta
                    decisions[d.key] = Decision(d.key, dec.quality, False, AUDIO, dec.bitrate + delta, red=True)
                elif was:
                    self._start_hold(now)      # a downgrade for bandwidth, as a layer's
                self._red[d.key] = on
        known = {d.key for d in video if d.key in self._level}
        waiting: set[str] = set()        # would go higher but for the hold or the one-step rule
        # layer by layer, by priority: back to where each one is (or less: a downgrade is
        # immediate) within the estimate; above that, with headroom, one layer per allocation
        # for a known track, and unless held
        for k in range(max((len(c) for c in costs.values()), default=0)):
            if k == 1:
                add_red()
                red_done = True
            for d in video:
                i, cost = level[d.key], costs[d.key]
                if i != k - 1 or k >= len(cost):
                    continue
                delta = cost[k] - (cost[i] if i >= 0 else 0)
                up = k > base[d.key]
                limit = estimate / (1 + UPGRADE_MARGIN) if up else estimate
                if used + delta > limit:
                    continue
                if up and ((d.key in known and k > base[d.key] + 1)
                           or (held and estimate < HOLD_BYPASS * (used + delta))):
                    waiting.add(d.key)
                    continue
                level[d.key] = k
                used += delta
        if not red_done:
            add_red()
        best = sum(c[-1] for c in costs.values()) + sum(dec.bitrate for dec in decisions.values())
        best += sum(audio_cost(d, red=True) - decisions[d.key].bitrate for d in red_audio)
        wanted = int(best * (1 + UPGRADE_MARGIN))
        if any(level[d.key] < base[d.key] for d in video):
            self._start_hold(now)
        if any(level[d.key] > base[d.key] for d in video):
            self._last_upgrade = now
        for d in video:
            i = level[d.key]
            c = cands[d.key]
            top = len(c) - 1
            reason = OPTIMAL if i == top else (HELD if d.key in waiting else BANDWIDTH)
            chosen = c[max(i, 0)]
            decisions[d.key] = Decision(d.key, chosen.quality, i < 0, reason, costs[d.key][i] if i >= 0 else 0,
                                        temporal=chosen.temporal)
            self._level[d.key] = chosen.rank if i >= 0 else None
        return Allocation({d.key: decisions[d.key] for d in demands}, used=used, wanted=wanted)

    def _base_index(self, d: Demand, cands: list[LayerState]) -> int:
        # first seen: where it is, or its lowest layer
        if d.key in self._level:
            q = self._level[d.key]
        else:
            q = None if d.current is None else LayerState(d.current, temporal=d.current_temporal).rank
        if q is None:
            return 0 if d.key not in self._level else -1
        below = [i for i, x in enumerate(cands) if x.rank <= q]
        # its layer stopped and only higher ones are left: the lowest is no upgrade
        return below[-1] if below else 0

    def _start_hold(self, now: float) -> None:
        if now - self._last_upgrade < FAILED_UPGRADE_WINDOW:
            self._hold = min(self._hold * 2, UPGRADE_HOLD_MAX)
            self._last_upgrade = -1e9      # one doubling per failed upgrade
        elif now >= self._hold_until:
            self._hold = UPGRADE_HOLD
        self._hold_until = now + self._hold


def unmanaged(d: Demand) -> Decision:
    """what a subscription gets without an estimate (or disabled): today's layer choice, and
    RED wherever it was negotiated"""
    layer = select_layer(d.layers, d.max_quality)
    if layer is None:
        return Decision(d.key, None, False, NO_LAYERS)
    return Decision(d.key, layer.quality, False, DISABLED if d.disabled else NO_ESTIMATE, red=bool(d.red_blocks),
                    temporal=layer.temporal)
