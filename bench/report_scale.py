"""`vidlabel report` at archive scale: a generated result of N videos (10,000 by default) and a tenth of it as the
baseline of the same run; for each, the report's build time, its size on disk, and the overview's load in headless
Chromium (first contentful paint, the moment the video list is shown and the filter answers, and one filter
change by label).

The result is generated, not labelled (labelling 10,000 videos takes days on two cores), as `vidlabel run` writes
it: every table of `schema.TABLES` with this version's schema, a run.json, Kinetics-600 class names, durations
drawn log-normally (median 90 s, 5 s to 2 h), 5-s clips whose top 5 come from a few labels per video, shots of 4 to
20 s, a thumbnail per shot (real JPEGs, 192x108, ~5 kB each) and 3% failed files in three groups.

    .venv/bin/python bench/report_scale.py --work /tmp/report_scale [--videos 10000]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import SHARED, vidlabel_command

CLIP_S = 5.0
TOP_K = 5
ERRORS = (  # stage, error class, message: the failed files' groups
    ("open", "InvalidDataError", "not a readable video file (FFmpeg found no known container format in it)"),
    ("open", "NoVideoError", "no video stream in the file (streams found: audio)"),
    ("decoder", "DecoderTimeout", "the decoder gave no clip for 300 s (a hang or a blocking read)"),
)


def jpegs(count: int, rng) -> list[bytes]:
    from PIL import Image

    pictures = []
    for _ in range(count):
        base = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
        image = np.kron(base, np.ones((12, 12, 1), np.uint8)) + rng.integers(0, 24, (108, 192, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=80, optimize=True)
        pictures.append(buffer.getvalue())
    return pictures


def top_k_array(names: pa.Array, labels: np.ndarray, scores: np.ndarray) -> pa.Array:
    """[n, TOP_K] label indices into `names` and scores -> the tables' list<struct<label, score>>."""
    n = labels.shape[0]
    structs = pa.StructArray.from_arrays(
        [names.take(pa.array(labels.ravel())), pa.array(scores.ravel().astype(np.float32))], names=["label", "score"]
    )
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * TOP_K + 1, TOP_K, dtype=np.int32)), structs)


def generate(out: pathlib.Path, videos: int, seed: int = 0) -> dict:
    """Writes a result of `videos` videos into OUT (a folder as `vidlabel run` publishes it); returns its counts."""
    from vidlabel.transforms import schema

    rng = np.random.default_rng(seed)
    names = np.array((SHARED / "labels" / "kinetics_600_labels.txt").read_text().split("\n")[:600])
    popularity = rng.zipf(1.3, 600).astype(float)
    popularity /= popularity.sum()
    pictures = jpegs(64, rng)
    out.mkdir(parents=True)
    run_id = "20261204T000000Z-bench"
    uris = [f"gs://archive/channel-{i % 40:02d}/{2000 + i % 25}/programme-{i:05d}.mp4" for i in range(videos)]
    failed = rng.random(videos) < 0.03
    durations = np.clip(rng.lognormal(np.log(90), 1.0, videos), 5, 7200)

    clip_rows = {k: [] for k in ("video_uri", "clip_index", "start_s", "end_s", "labels", "scores")}
    shot_rows = {k: [] for k in ("video_uri", "shot_index", "start_s", "end_s", "labels", "scores")}
    thumb_rows = {k: [] for k in ("video_uri", "time_s", "jpeg")}
    video_top = []
    for i, uri in enumerate(uris):
        if failed[i]:
            video_top.append(None)
            continue
        theme = rng.choice(600, 8, replace=False, p=popularity)
        clips = int(np.ceil(durations[i] / CLIP_S))
        starts = np.arange(clips) * CLIP_S
        ends = np.minimum(starts + CLIP_S, durations[i])
        picks = np.stack([rng.permutation(theme)[:TOP_K] for _ in range(clips)])
        scores = np.sort(rng.dirichlet(np.ones(TOP_K + 3), clips)[:, :TOP_K], axis=1)[:, ::-1]
        clip_rows["video_uri"] += [uri] * clips
        clip_rows["clip_index"].append(np.arange(clips))
        clip_rows["start_s"].append(starts)
        clip_rows["end_s"].append(ends)
        clip_rows["labels"].append(picks)
        clip_rows["scores"].append(scores)
        cuts = np.cumsum(rng.uniform(4, 20, int(durations[i] / 4) + 2))
        shot_starts = np.concatenate([[0.0], cuts[cuts < durations[i]]])
        shot_ends = np.append(shot_starts[1:], durations[i])
        shots = len(shot_starts)
        shot_rows["video_uri"] += [uri] * shots
        shot_rows["shot_index"].append(np.arange(shots))
        shot_rows["start_s"].append(shot_starts)
        shot_rows["end_s"].append(shot_ends)
        shot_rows["labels"].append(np.stack([rng.permutation(theme)[:TOP_K] for _ in range(shots)]))
        shot_rows["scores"].append(np.sort(rng.dirichlet(np.ones(TOP_K + 3), shots)[:, :TOP_K], axis=1)[:, ::-1])
        thumb_rows["video_uri"] += [uri] * shots
        thumb_rows["time_s"].append(np.minimum(shot_starts + 0.8, shot_ends))
        thumb_rows["jpeg"] += [pictures[j] for j in rng.integers(0, len(pictures), shots)]
        video_scores = np.sort(rng.dirichlet(np.ones(TOP_K + 3))[:TOP_K])[::-1]
        video_top.append([(names[label], float(score)) for label, score in zip(theme[:TOP_K], video_scores)])

    def table(columns: dict, schema_: pa.Schema) -> pa.Table:
        return pa.table(
            {
                name: columns.get(name, pa.nulls(len(next(iter(columns.values()))), f.type))
                for name, f in zip(schema_.names, schema_)
            },
            schema=schema_,
        )

    def write(name: str, columns: dict) -> int:
        t = table(columns, schema.TABLES[name])
        pq.write_table(t, out / f"{name}-00000-of-00001.parquet")
        return t.num_rows

    def flat(rows: dict, key: str):
        return np.concatenate(rows[key]) if rows[key] else np.array([])

    label_array = pa.array(names.tolist())

    def spans(rows: dict, index_column: str) -> dict:
        """The columns predictions and shots share: time spans of a video with their top k."""
        n = len(rows["video_uri"])
        return {
            "video_uri": pa.array(rows["video_uri"]),
            index_column: pa.array(flat(rows, index_column).astype(np.int32)),
            "start_s": pa.array(flat(rows, "start_s")),
            "end_s": pa.array(flat(rows, "end_s")),
            "start_frame": pa.array((flat(rows, "start_s") * 25).astype(np.int64)),
            "end_frame": pa.array((flat(rows, "end_s") * 25 - 1).astype(np.int64)),
            "top_k": top_k_array(label_array, np.concatenate(rows["labels"]), np.concatenate(rows["scores"])),
            "model": pa.array(["a2-base"] * n),
            "run_id": pa.array([run_id] * n),
        }

    counts = {"videos": videos, "failed": int(failed.sum())}
    counts["clips"] = write("predictions", spans(clip_rows, "clip_index"))
    counts["shots"] = write("shots", spans(shot_rows, "shot_index"))
    n_thumbs = len(thumb_rows["video_uri"])
    counts["thumbnails"] = write(
        "thumbnails",
        {
            "video_uri": pa.array(thumb_rows["video_uri"]),
            "time_s": pa.array(flat(thumb_rows, "time_s")),
            "width": pa.array(np.full(n_thumbs, 192, np.int32)),
            "height": pa.array(np.full(n_thumbs, 108, np.int32)),
            "jpeg": pa.array(thumb_rows["jpeg"], pa.binary()),
            "run_id": pa.array([run_id] * n_thumbs),
        },
    )
    ok = ~failed
    error_index = rng.integers(0, len(ERRORS), videos)
    codecs = rng.choice(["h264", "hevc", "vp9", "av1", "mpeg2video"], videos, p=[0.6, 0.15, 0.1, 0.05, 0.1])
    sizes = rng.choice(["1920x1080", "1280x720", "3840x2160", "720x576", "1080x1920"], videos)
    widths = np.array([int(s.split("x")[0]) for s in sizes], np.int32)
    heights = np.array([int(s.split("x")[1]) for s in sizes], np.int32)
    num_clips = np.where(ok, np.ceil(durations / CLIP_S), 0).astype(np.int32)
    counts["ok"] = int(ok.sum())
    write(
        "videos",
        {
            "video_uri": pa.array(uris),
            "status": pa.array(np.where(ok, "ok", "error")),
            "error": pa.array([None if o else ERRORS[e][2] for o, e in zip(ok, error_index)], pa.string()),
            "duration_s": pa.array(np.where(ok, durations, np.nan), mask=~ok),
            "source_fps": pa.array(np.full(videos, 25.0), mask=~ok),
            "width": pa.array(widths, mask=~ok),
            "height": pa.array(heights, mask=~ok),
            "rotation": pa.array(np.zeros(videos, np.int32), mask=~ok),
            "codec": pa.array(codecs, mask=~ok),
            "pix_fmt": pa.array(np.full(videos, "yuv420p"), mask=~ok),
            "bit_depth": pa.array(np.full(videos, 8, np.int32), mask=~ok),
            "stream_index": pa.array(np.zeros(videos, np.int32), mask=~ok),
            "num_frames": pa.array((durations * 25).astype(np.int64), mask=~ok),
            "num_clips": pa.array(num_clips, mask=~ok),
            "top_k": pa.array(
                [None if t is None else [{"label": label, "score": s} for label, s in t] for t in video_top],
                schema.TOP_K,
            ),
            "file_size": pa.array((durations * 6e5).astype(np.int64)),
            "file_modified": pa.array([datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)] * videos),
            "model": pa.array(["a2-base"] * videos),
            "run_id": pa.array([run_id] * videos),
        },
    )
    write(
        "errors",
        {
            "video_uri": pa.array([u for u, o in zip(uris, ok) if not o]),
            "stage": pa.array([ERRORS[e][0] for e, o in zip(error_index, ok) if not o]),
            "error_class": pa.array([ERRORS[e][1] for e, o in zip(error_index, ok) if not o]),
            "message": pa.array([ERRORS[e][2] for e, o in zip(error_index, ok) if not o]),
            "run_id": pa.array([run_id] * int(failed.sum())),
        },
    )
    for name in ("segments", "frame_labels"):
        pq.write_table(schema.TABLES[name].empty_table(), out / f"{name}-00000-of-00001.parquet")
    record = {
        "schema_version": schema.SCHEMA_VERSION,
        "run_id": run_id,
        "started": "2026-12-04T00:00:00+00:00",
        "finished": "2026-12-04T06:00:00+00:00",
        "elapsed_s": 21600.0,
        "versions": {"vidlabel": "bench"},
        "model": {"name": "a2-base", "kind": "base", "sha256": None},
        "labelling": {"fps": 5, "resolution": 224, "top_k": TOP_K},
        "counts": {"listed": videos, "labelled": videos, "ok": counts["ok"], "error": counts["failed"]},
        "thumbnails": {"every_s": 10.0},
        "files": sorted(p.name for p in out.glob("*.parquet")),
    }
    (out / "run.json").write_text(json.dumps(record))
    return counts


def disk_size(folder: pathlib.Path) -> tuple[int, int]:
    """(bytes, files) under FOLDER, as allocated on disk."""
    total = files = 0
    for path in folder.rglob("*"):
        if path.is_file():
            total += path.stat().st_blocks * 512
            files += 1
    return total, files


def load_times(index: pathlib.Path, label: str, repeats: int = 3) -> dict:
    """The overview opened in headless Chromium: first contentful paint, the list shown and the filter answering
    (the page's own performance mark), the load event, and one filter change by label (its input handler and
    the next frame). The best of `repeats` loads, as the first pays for Chromium's own start."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1400",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_script_timeout(60)
    runs = []
    try:
        for _ in range(repeats):
            driver.get("about:blank")
            driver.get(index.as_uri())
            figures = driver.execute_async_script(  # once the first contentful paint has happened
                """const done = arguments[arguments.length - 1];
                   new PerformanceObserver((list, observer) => {
                     if (!list.getEntriesByName('first-contentful-paint').length) return;
                     observer.disconnect();
                     const ready = performance.getEntriesByName('vidlabel:list-ready')[0];
                     const nav = performance.getEntriesByType('navigation')[0];
                     done({first_paint_ms: performance.getEntriesByName('first-contentful-paint')[0].startTime,
                           list_ready_ms: ready.startTime, load_event_ms: nav.loadEventEnd});
                   }).observe({type: 'paint', buffered: true});"""
            )
            figures["filter_ms"] = driver.execute_async_script(
                """const done = arguments[arguments.length - 1];
                   const input = document.getElementById('filter-label');
                   const t0 = performance.now();
                   input.value = arguments[0];
                   input.dispatchEvent(new Event('input'));
                   requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));""",
                label,
            )
            figures["matches"] = int(
                driver.execute_script("return document.getElementById('match-count').dataset.matches")
            )
            runs.append(figures)
    finally:
        driver.quit()
    return {key: min(r[key] for r in runs) if key != "matches" else runs[0][key] for key in runs[0]}


def measure(work: pathlib.Path, videos: int) -> dict:
    result, site = work / f"result-{videos}", work / f"report-{videos}"
    shutil.rmtree(result, ignore_errors=True)
    shutil.rmtree(site, ignore_errors=True)
    started = time.monotonic()
    counts = generate(result, videos)
    generated_s = time.monotonic() - started
    started = time.monotonic()
    subprocess.run(vidlabel_command("report", result, "--out", site), check=True, stdout=subprocess.DEVNULL)
    build_s = time.monotonic() - started
    size, files = disk_size(site)
    data_size = sum(p.stat().st_size for p in (site / "data").glob("*.js"))
    overview = json.loads((site / "data" / "overview.js").read_text().split("=", 1)[1].rstrip().rstrip(";"))
    label = overview["labels"][10][0]  # the filter's test: a label part of the archive has
    figures = {
        **counts,
        "generate_s": round(generated_s, 1),
        "build_s": round(build_s, 1),
        "report_mb": round(size / 2**20, 1),
        "report_files": files,
        "overview_data_mb": round(data_size / 2**20, 2),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in load_times(site / "index.html", label).items()},
    }
    print(json.dumps({"videos": videos, **figures}), flush=True)
    return figures


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", required=True, type=pathlib.Path)
    p.add_argument("--videos", type=int, default=10_000)
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    baseline = measure(args.work, args.videos // 10)
    scaled = measure(args.work, args.videos)
    ratios = {
        k: round(scaled[k] / baseline[k], 2)
        for k in ("build_s", "report_mb", "first_paint_ms", "list_ready_ms", "filter_ms")
        if baseline[k]
    }
    print(json.dumps({"ratios_vs_a_tenth": ratios}))
    (args.work / "results.json").write_text(
        json.dumps({"baseline": baseline, "scaled": scaled, "ratios": ratios}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
