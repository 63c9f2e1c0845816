"""The overview's charts, drawn with matplotlib to SVG when the report is built.

Why matplotlib: vidlabel already depends on it (`vidlabel plot`), it needs no JavaScript and no network, and an
SVG stays sharp at any zoom and small on disk. The charts are pictures (`<img>`), so nothing in them runs; text is
drawn as paths (matplotlib's default `svg.fonttype`) and never parsed as mathtext, so a label holding `$` or `<`
is drawn as it is written. Interactive parts (filtering, the label links, each video's timeline) are the page's
own plain JavaScript over the same numbers.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

NEUTRAL = "#b8b8b8"  # the labels outside the archive's top ones
TOP_COLOURS = 9  # the archive's top labels (by time) that get a colour of their own: tab10 but its grey
CHART_LABELS = 20  # bars in the label chart
STYLE = {"text.parse_math": False, "svg.hashsalt": "vidlabel", "font.size": 9, "svg.fonttype": "path"}


def palette(labels_by_time: list[str]) -> dict[str, str]:
    """The archive's top labels by time -> matplotlib's tab10 colours (distinct, colour-blind friendlier than
    random hues) but its grey, which NEUTRAL means; every other label is drawn in NEUTRAL, so a timeline stays
    readable with 600 classes."""
    colours = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]  # 7: tab10's grey
    return {label: matplotlib.colors.to_hex(colours[i]) for i, label in enumerate(labels_by_time[:TOP_COLOURS])}


def durations_svg(durations: list[float]) -> str:
    """A histogram of the videos' durations, in seconds or minutes as suits the archive."""
    values = np.asarray(durations, float)
    minutes = values.size and values.max() > 300
    shown = values / 60 if minutes else values
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6, 2.6))
        if values.size:
            ax.hist(shown, bins=min(40, max(5, int(np.sqrt(values.size)))), color="#4c78a8", edgecolor="white")
        ax.set_xlabel("duration (minutes)" if minutes else "duration (s)")
        ax.set_ylabel("videos")
        ax.spines[["top", "right"]].set_visible(False)
        return _svg(fig)


def labels_svg(label_seconds: list[tuple[str, float, int]], colours: dict[str, str]) -> str:
    """Hours (or minutes) of video per label, as the top label of its clips: the CHART_LABELS largest."""
    top = label_seconds[:CHART_LABELS][::-1]
    seconds = np.asarray([s for _, s, _ in top], float)
    hours = seconds.size and seconds.max() >= 3600
    shown = seconds / 3600 if hours else seconds / 60
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6, 0.28 * max(3, len(top)) + 0.8))
        ax.barh(range(len(top)), shown, color=[colours.get(label, NEUTRAL) for label, _, _ in top])
        ax.set_yticks(range(len(top)), [_short(label) for label, _, _ in top])
        ax.set_xlabel("hours as the clips' top label" if hours else "minutes as the clips' top label")
        ax.spines[["top", "right"]].set_visible(False)
        return _svg(fig)


def _short(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()
