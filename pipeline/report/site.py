"""The report's files: a static site that opens from the file system, with no server and no network.

    REPORT/index.html            the overview (run, totals, the filterable video list, labels, durations,
                                 codecs and resolutions, failures)
    REPORT/video.html#ID         one video's page (one page for all: it loads data/v/ID.js)
    REPORT/report.js, report.css the pages' code and style (`assets/`: plain JavaScript, no library)
    REPORT/charts/*.svg          matplotlib's charts (`charts.py`)
    REPORT/data/overview.js      the overview's figures
    REPORT/data/videos.js        every video's name, status, duration, labels and first thumbnail (the filter's data)
    REPORT/data/v/ID.js          one video's clips, shots, segments, thumbnails and facts
    REPORT/thumbs/ID/MS.jpg      the thumbnails table's JPEGs, by video and time in milliseconds: at most
                                 MAX_THUMBNAILS a video, spread evenly over its thumbnails (the first always)

Browsers refuse `fetch()` and ES modules on file:// pages, so the data travels as plain `<script>` files: JSON
(ASCII only) assigned to a global, or, for a video's page, passed to a function the page defines (a script added
to the page when it opens). The pages put every name, URI, label and message into the document as text
(`textContent`), never as HTML, so a file named `<img src=x onerror=...>.mp4` is shown and never run; links and
file names are made of ids, never of names.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil

from vidlabel.pipeline import publish
from vidlabel.pipeline.report import charts
from vidlabel.pipeline.report.tables import Overview, VideoEntry, VideoPage
from vidlabel.transforms import storage

ASSETS = os.path.join(os.path.dirname(__file__), "assets")
MAX_THUMBNAILS = 24  # a video's page shows "a few along the video"; the table keeps them all
PAGES = ("index.html", "video.html", "report.js", "report.css")


def write_site(out: str, folder: str, overview: Overview, pages) -> None:
    """Writes the report of the result in `folder` into `out`."""
    for name in PAGES:
        shutil.copyfile(os.path.join(ASSETS, name), os.path.join(out, name))
    label_names = [label for label, _, _ in overview.label_seconds]
    colours = charts.palette(label_names)
    os.makedirs(os.path.join(out, "charts"))
    for name, svg in (
        ("durations.svg", charts.durations_svg(overview.durations)),
        ("labels.svg", charts.labels_svg(overview.label_seconds, colours)),
    ):
        with open(os.path.join(out, "charts", name), "w", encoding="utf-8") as f:
            f.write(svg)
    os.makedirs(os.path.join(out, "data", "v"))
    write_script(os.path.join(out, "data", "overview.js"), "VIDLABEL_OVERVIEW = ", overview_data(overview, colours))
    label_index = {label: i for i, label in enumerate(label_names)}
    write_script(
        os.path.join(out, "data", "videos.js"),
        "VIDLABEL_VIDEOS = ",
        {"labels": label_names, "videos": [video_entry(v, label_index) for v in overview.videos]},
    )
    last = len(overview.videos) - 1
    chosen = set()  # (video id, thumbnail's time in ms)
    for page in pages:
        page = page._replace(thumbnails=spread(page.thumbnails, MAX_THUMBNAILS))
        chosen.update((page.entry.id, milliseconds(t)) for t, _, _ in page.thumbnails)
        write_script(
            os.path.join(out, "data", "v", f"{page.entry.id}.js"),
            "VIDLABEL_SHOW_VIDEO(",
            video_data(page, colours, last),
            end=");\n",
        )
    if "thumbnails" in overview.tables:
        write_thumbnails(out, folder, {v.uri: v.id for v in overview.videos}, chosen)


def write_script(path: str, start: str, data, end: str = ";\n") -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(start)
        json.dump(data, f, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        f.write(end)


def spread(items: list, most: int) -> list:
    """At most `most` of `items`, evenly spaced, the first and the last among them."""
    if len(items) <= most:
        return items
    return [items[round(i * (len(items) - 1) / (most - 1))] for i in range(most)]


def milliseconds(time_s: float) -> int:
    return round(time_s * 1000)


def thumbnail_path(video_id: int, time_s: float) -> str:
    return f"thumbs/{video_id}/{milliseconds(time_s)}.jpg"


def write_thumbnails(out: str, folder: str, ids: dict[str, int], chosen: set[tuple[int, int]]) -> None:
    """The `chosen` JPEGs, streamed from the table a batch at a time (never held whole)."""
    made = set()
    columns = ["video_uri", "time_s", "jpeg"]
    for batch in publish.table_batches(storage.escape_glob(folder), "thumbnails", columns):
        for uri, time_s, jpeg in zip(*(batch.column(c).to_pylist() for c in columns)):
            video_id = ids.get(uri)
            if (video_id, milliseconds(time_s)) not in chosen or jpeg is None:
                continue
            if video_id not in made:
                os.makedirs(os.path.join(out, "thumbs", str(video_id)), exist_ok=True)
                made.add(video_id)
            with open(os.path.join(out, thumbnail_path(video_id, time_s)), "wb") as f:
                f.write(jpeg)


def number(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def overview_data(overview: Overview, colours: dict[str, str]) -> dict:
    record = overview.record
    return {
        "run": {
            "run_id": record.get("run_id"),
            "started": record.get("started"),
            "finished": record.get("finished"),
            "elapsed_s": record.get("elapsed_s"),
            "schema_version": record.get("schema_version", 1),
            "vidlabel": record.get("versions", {}).get("vidlabel"),
            "model": record.get("model", {}),
            "labelling": {k: v for k, v in record.get("labelling", {}).items() if not k.endswith("sha256")},
            "counts": record.get("counts", {}),
            "thumbnails": record.get("thumbnails"),
        },
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "totals": {k: number(v) if isinstance(v, float) else v for k, v in overview.totals.items()},
        "missing_tables": overview.missing_tables,
        "labels": [[label, number(seconds, 1), videos] for label, seconds, videos in overview.label_seconds],
        "palette": colours,
        "codecs": overview.codecs,
        "resolutions": overview.resolutions,
        "failures": [[stage, error_class, members] for stage, error_class, members in overview.failures],
        "charts": {"durations": "charts/durations.svg", "labels": "charts/labels.svg"},
    }


def video_entry(video: VideoEntry, label_index: dict[str, int]) -> list:
    """[id, uri, status, duration, [[label index, best score], ...], first thumbnail or null]: short, since an
    archive's list is loaded whole by the overview."""
    return [
        video.id,
        video.uri,
        video.status,
        number(video.duration_s, 2),
        [[label_index[label], number(score, 4)] for label, score in video.labels],
        None if video.thumbnail is None else thumbnail_path(video.id, video.thumbnail),
    ]


def video_data(page: VideoPage, colours: dict[str, str], last_id: int) -> dict:
    facts = {
        k: (v.isoformat() if isinstance(v, datetime.datetime) else number(v) if isinstance(v, float) else v)
        for k, v in page.facts.items()
    }
    used = {label for _, _, label, _ in page.clips} | {label for label, _, _, _ in page.segments}
    return {
        "id": page.entry.id,
        "prev": page.entry.id - 1 if page.entry.id > 0 else None,
        "next": page.entry.id + 1 if page.entry.id < last_id else None,
        "facts": facts,
        "top_k": [[e["label"], number(e["score"], 4)] for e in page.top_k],
        "error": page.error,
        "clips": [[number(s), number(e), label, number(score, 4)] for s, e, label, score in page.clips],
        "shots": [[number(s), number(e), label, number(score, 4)] for s, e, label, score in page.shots],
        "segments": [[label, number(s), number(e), number(c, 4)] for label, s, e, c in page.segments],
        "thumbnails": [[number(t), thumbnail_path(page.entry.id, t), w, h] for t, w, h in page.thumbnails],
        "palette": {label: colour for label, colour in colours.items() if label in used},
    }
