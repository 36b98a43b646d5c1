"""The PNG of bench_network.py: one panel per scenario and subscriber, over the time since
the publisher started.  Left axis (kbit/s): what the server sent into the subscriber's
downlink and what the link delivered, in 0.5 s bins, against the link's capacity; for an
uplink scenario also what the publisher sent into its uplink and its capacity.  Right axis:
the layer each received frame belongs to (q/h/f), freezes shaded red, phases marked."""

from __future__ import annotations

import textwrap

from netmetrics import RIDS, capacity, gaps, layer_of, video

BIN_S = 0.5


def binned(rows: list[list], col: int, t_ref: float) -> tuple[list[float], list[float]]:
    """kbit/s per BIN_S from a cumulative byte counter column"""
    xs, ys, k = [], [], 0
    while k < len(rows):
        j = k
        while j + 1 < len(rows) and rows[j + 1][0] - rows[k][0] < BIN_S - 1e-6:
            j += 1
        if j + 1 >= len(rows):
            break
        dt = rows[j + 1][0] - rows[k][0]
        xs.append((rows[k][0] + rows[j + 1][0]) / 2 - t_ref)
        ys.append((rows[j + 1][col] - rows[k][col]) * 8 / dt / 1e3)
        k = j + 1
    return xs, ys


def _capacity_steps(raw: dict, who: str, direction: str, t_ref: float, t_end: float):
    ts = sorted({c[0] for c in raw["links"][who]["changes"] if c[1] == direction})
    xs, ys = [], []
    for t in ts + [t_end]:
        xs.append(t - t_ref)
        ys.append(capacity(raw, who, direction, min(t, t_end - 1e-3)) / 1e3 or float("nan"))
    return xs, ys


def plot(runs: list[tuple[dict, dict]], path: str, title: str) -> None:
    """runs: [(raw, analysis)]"""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(raw, an, who) for raw, an in runs for who in raw["clients"] if who != "pub"]
    fig, axes = plt.subplots(len(panels), 1, figsize=(14, 2.9 * len(panels)), squeeze=False)
    for ax, (raw, an, who) in zip(axes[:, 0], panels):
        t_ref = raw["t_pub"]
        t_end = raw["phases"][-1]["end"] if raw["phases"] else t_ref
        down = raw["links"][who]["down"]
        x, y = binned(down, 2, t_ref)
        ax.plot(x, y, color="tab:blue", lw=1, label="server -> subscriber link (offered)")
        x, y = binned(down, 4, t_ref)
        ax.plot(x, y, color="tab:green", lw=1, label="delivered to subscriber")
        cx, cy = _capacity_steps(raw, who, "down", t_ref, t_end)
        ax.step(cx, cy, where="post", color="black", ls="--", lw=1.2, label="downlink capacity")
        if any(c[1] == "up" and float(c[2].get("rate", 0)) for c in raw["links"]["pub"]["changes"]):
            x, y = binned(raw["links"]["pub"]["up"], 2, t_ref)
            ax.plot(x, y, color="tab:purple", lw=1, label="publisher -> uplink (offered)")
            cx, cy = _capacity_steps(raw, "pub", "up", t_ref, t_end)
            ax.step(cx, cy, where="post", color="tab:purple", ls="--", lw=1.2, label="uplink capacity")
        ax.set_ylabel("kbit/s")
        ax.set_xlim(0, t_end - t_ref + 2)
        ax.set_ylim(bottom=0)
        for ph in raw["phases"]:
            ax.axvline(ph["start"] - t_ref, color="grey", lw=0.8)
            ax.text(ph["start"] - t_ref + 0.3, 1.0, ph["name"], transform=ax.get_xaxis_transform(),
                    va="top", fontsize=8, color="grey")
        times, hs = video(raw["clients"][who])
        for a, b in gaps(times, raw["phases"][0]["start"] if raw["phases"] else t_ref, t_end):
            ax.axvspan(a - t_ref, b - t_ref, color="red", alpha=0.15, lw=0)
        lax = ax.twinx()
        lax.plot([t - t_ref for t in times], [RIDS.index(layer_of(h, an["heights"])) for h in hs],
                 ".", ms=1.5, color="tab:orange", label="received layer")
        lax.set_yticks(range(len(RIDS)))
        lax.set_yticklabels([f"{r} {an['heights'].get(r, '')}p" for r in RIDS])
        lax.set_ylim(-0.5, len(RIDS) - 0.5)
        ax.set_title(f"{raw['scenario']}: {who} — {raw['description']}", fontsize=9, loc="left")
        handles = ax.get_legend_handles_labels()
        lh = lax.get_legend_handles_labels()
        ax.legend(handles[0] + lh[0], handles[1] + lh[1], fontsize=7, loc="center left",
                  bbox_to_anchor=(1.07, 0.5), frameon=False)
    axes[-1, 0].set_xlabel("seconds since the publisher started (red: no frame for > 0.5 s)")
    fig.suptitle(textwrap.fill(title, 150), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.9 * len(panels))))
    fig.savefig(path, dpi=72)
    plt.close(fig)
