"""Label segments on concatenated actions: do the `segments` table's boundaries fall where the action changes?

    .venv/bin/python bench/segments.py                  # ~10 min with the demo model there, + 9-18 min to make it
    .venv/bin/python bench/segments.py --quick          # 6 videos, the two window modes only
    .venv/bin/python bench/segments.py --model PATH     # another model trained on the demo's classes
    .venv/bin/python bench/segments.py --measure_only   # the DuckDB figures of the last run's tables again

1. The model: `--model PATH`, or the demo's fine-tuned model `bench/.models/demo/model` (ignored by git), made once
   by `vidlabel demo --out bench/.models/demo` (the full demo) when it is not there.
2. `vidlabel synth --classes <the demo's classes> --videos_per_class 0 --sequences N --seed S` renders N videos that
   concatenate 3-5 actions of 2-6 s each, every action a new scene (hard cut), no two consecutive actions alike, with
   the demo's rendering (synth's random sizes 160x120-320x240 and rates 12-30 fps; synth has no flag for them), and
   their truth in `sequences.csv`, into bench/.inputs/segments/ (reused when there).
3. `vidlabel run` labels them with the model's own clip length C: `--windows fixed` and `--windows shots`; without
   --quick also both modes with clips starting every C/2 (`--stride_seconds`, overlapping clips) and shots windows of 2C
   (`--clip_seconds`: longer clips than the model was trained on).
4. DuckDB reads the Parquet tables and sequences.csv. A true change is the start t of every action but the first,
   from label A (the action before) to label B. C, the model's own clip length, is the tolerance of every variant:
   - "B starts": some `segments` row of label B in that video has |start_s - t| <= C (the strict figure);
   - "A ends": some row of label A has |end_s - t| <= C;
   - "either": B starts or A ends (the loose figure);
   - the error of a found change is the distance from t to the nearest such boundary;
   - start precision: of the segment rows that start after 0 s, the share that start within C of a change to their
     own label;
   - clip top-1: the predictions table's top label against the true action at the clip's midpoint, apart for clips
     inside one action and clips that straddle a change (show source frames of both actions), and by action length;
   - shots: the `shots` table's boundaries (start_frame of every shot but the first) against the true change frames
     (t x the video's rate), recall and precision at +-1 frame (and exact), from each run (the shots table does not
     depend on the window mode).
Prints a Markdown table of the figures and writes them, with the per-change rows, to bench/.inputs/segments/.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

import duckdb

from vidlabel.pipeline.commands.demo import DEMO_CLASSES

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import vidlabel_command  # noqa: E402  (bench scripts are run as files)

BENCH = pathlib.Path(__file__).resolve().parent
DEMO_OUT = BENCH / ".models" / "demo"
WORK = BENCH / ".inputs" / "segments"
EPS = 1e-6  # seconds: times are frame or tick counts divided by a rate


def demo_model() -> pathlib.Path:
    """The full demo's model, made once into bench/.models/demo."""
    model = DEMO_OUT / "model"
    if not (model / "saved_model.pb").exists():
        started = time.time()
        print(f"running the full demo into {DEMO_OUT} (about 9-16 min on 2 cores)", flush=True)
        subprocess.run(vidlabel_command("demo", "--out", DEMO_OUT), check=True)
        print(f"demo: {time.time() - started:.0f} s", flush=True)
    return model


def render(out: pathlib.Path, count: int, seed: int) -> float:
    """N sequence videos of the demo's classes into OUT (reused when its truth is there); seconds it took."""
    if (out / "sequences.csv").exists():
        print(f"reusing {out}")
        return 0.0
    started = time.time()
    command = ("synth", "--out", out, "--classes", ",".join(DEMO_CLASSES), "--videos_per_class", 0)
    subprocess.run(vidlabel_command(*command, "--sequences", count, "--seed", seed), check=True)
    return time.time() - started


def label(model: pathlib.Path, videos: pathlib.Path, output: pathlib.Path, flags: list[str]) -> None:
    command = ("run", "--model", model, "--input", videos, "--output", output, "--overwrite", *flags)
    subprocess.run(vidlabel_command(*command), check=True)


def setup(con: duckdb.DuckDBPyConnection, truth: pathlib.Path) -> None:
    con.execute(f"CREATE TABLE truth AS SELECT * FROM read_csv('{truth}', header = true)")
    # Each change: the start t of an action but the first, from label A (before) to B (after).
    con.execute(
        """CREATE TABLE changes AS
        SELECT b.video, b.action_index, a.label AS before, b.label AS after, b.start_s AS t,
               a.end_s - a.start_s AS before_s, b.end_s - b.start_s AS after_s, b.end_s AS after_end
        FROM truth a JOIN truth b ON a.video = b.video AND b.action_index = a.action_index + 1"""
    )


def views(con: duckdb.DuckDBPyConnection, tables: pathlib.Path) -> None:
    """The run's tables as views keyed by the video's file name (the truth's `video`)."""
    for table in ("segments", "predictions", "shots", "videos"):
        con.execute(
            f"CREATE OR REPLACE VIEW {table} AS SELECT regexp_extract(video_uri, '[^/]+$') AS video, * "
            f"FROM read_parquet('{tables}/{table}-*.parquet')"
        )


# Per change: the nearest start of a B segment and the nearest end of an A segment within C of t (NULL: none).
PER_CHANGE = f"""
SELECT c.*,
  (SELECT min(abs(s.start_s - c.t)) FROM segments s
   WHERE s.video = c.video AND s.label = c.after AND abs(s.start_s - c.t) <= $c + {EPS}) AS b_start_err,
  (SELECT min(abs(s.end_s - c.t)) FROM segments s
   WHERE s.video = c.video AND s.label = c.before AND abs(s.end_s - c.t) <= $c + {EPS}) AS a_end_err,
  (SELECT count(*) FROM segments s
   WHERE s.video = c.video AND s.label = c.after AND s.start_s < c.after_end AND s.end_s > c.t) AS b_segments_over_b
FROM changes c ORDER BY c.video, c.action_index"""

SUMMARY = """
SELECT count(*) AS changes,
  count(b_start_err) AS b_starts,
  count(a_end_err) AS a_ends,
  count(*) FILTER (b_start_err IS NOT NULL OR a_end_err IS NOT NULL) AS either,
  avg(b_start_err) AS b_start_mean_err,
  avg(least(coalesce(b_start_err, 1e9), coalesce(a_end_err, 1e9)))
    FILTER (b_start_err IS NOT NULL OR a_end_err IS NOT NULL) AS either_mean_err,
  count(*) FILTER (b_start_err IS NULL AND b_segments_over_b = 0) AS missed_b_never_segmented,
  count(*) FILTER (after_s < 3 AND b_start_err IS NULL) AS missed_b_under_3s,
  count(*) FILTER (after_s < 3) AS b_under_3s
FROM per_change"""

START_PRECISION = f"""
SELECT count(*) AS starts,
  count(*) FILTER (EXISTS (SELECT 1 FROM changes c WHERE c.video = s.video AND c.after = s.label
                           AND abs(s.start_s - c.t) <= $c + {EPS})) AS at_a_change
FROM segments s WHERE s.start_s > {EPS}"""

# Clip top-1 against the true action at the clip's midpoint; a clip straddles a change when it shows frames of both
# actions (in source frames: clip times are model ticks, up to a tick off the frame times).
CLIP_ACCURACY = """
WITH change_frames AS (
  SELECT c.video, round(c.t * v.source_fps)::BIGINT AS frame FROM changes c JOIN videos v USING (video)),
clips AS (
  SELECT p.video, p.top_k[1].label AS predicted,
    (SELECT any_value(t.label) FROM truth t WHERE t.video = p.video
       AND t.start_s <= (p.start_s + p.end_s) / 2 AND (p.start_s + p.end_s) / 2 < t.end_s) AS truth,
    EXISTS (SELECT 1 FROM change_frames c WHERE c.video = p.video
       AND p.start_frame < c.frame AND c.frame <= p.end_frame) AS straddles
  FROM predictions p)
SELECT count(*) FILTER (NOT straddles) AS inside, count(*) FILTER (NOT straddles AND predicted = truth) AS inside_ok,
  count(*) FILTER (straddles) AS straddling, count(*) FILTER (straddles AND predicted = truth) AS straddling_ok
FROM clips"""

# Clip top-1 of the clips inside one action, by the action's length (whole seconds).
ACCURACY_BY_LENGTH = """
SELECT floor(t.end_s - t.start_s)::INT AS action_s, count(DISTINCT (t.video, t.action_index)) AS actions,
  count(*) AS clips, count(*) FILTER (p.top_k[1].label = t.label) AS right
FROM predictions p JOIN truth t ON p.video = t.video AND t.start_s <= p.start_s AND p.end_s <= t.end_s
GROUP BY ALL ORDER BY action_s"""

# The shots table against the true change frames, +-1 frame and exact.
SHOTS = """
WITH cuts AS (SELECT video, start_frame FROM shots WHERE shot_index > 0),
  truth_frames AS (SELECT c.video, c.t, round(c.t * v.source_fps)::BIGINT AS frame
                   FROM changes c JOIN videos v USING (video))
SELECT (SELECT count(*) FROM truth_frames) AS changes,
  (SELECT count(*) FROM truth_frames f
   WHERE EXISTS (SELECT 1 FROM cuts s WHERE s.video = f.video AND abs(s.start_frame - f.frame) <= 1)) AS found_1,
  (SELECT count(*) FROM truth_frames f
   WHERE EXISTS (SELECT 1 FROM cuts s WHERE s.video = f.video AND s.start_frame = f.frame)) AS found_0,
  (SELECT count(*) FROM cuts) AS cuts,
  (SELECT count(*) FROM cuts s
   WHERE EXISTS (SELECT 1 FROM truth_frames f
                 WHERE s.video = f.video AND abs(s.start_frame - f.frame) <= 1)) AS right_1,
  (SELECT count(*) FROM videos WHERE status = 'ok') AS videos_ok,
  (SELECT count(*) FROM videos) AS videos"""


def measure(con: duckdb.DuckDBPyConnection, tables: pathlib.Path, tolerance_s: float, per_change_csv) -> dict:
    """The figures of one run; `tolerance_s` is C, the model's own clip length, whatever clips the run cut."""
    views(con, tables)
    record = json.loads((tables / "run.json").read_text())
    settings = record["labelling"]
    clip_s = settings["clip_frames"] / settings["fps"]
    stride_s = settings["stride_frames"] / settings["fps"]
    params = {"c": tolerance_s}
    con.execute(f"CREATE OR REPLACE TABLE per_change AS {PER_CHANGE}", params)
    con.execute(f"COPY per_change TO '{per_change_csv}' (HEADER)")

    def one(query: str, with_c: bool = False) -> dict:
        result = con.execute(query, params) if with_c else con.execute(query)
        names = [d[0] for d in result.description]
        return dict(zip(names, result.fetchone()))

    return {
        "clip_s": clip_s,
        "stride_s": stride_s,
        "windows": settings.get("windows"),
        "min_score": settings["min_score"],
        **one(SUMMARY),
        **one(START_PRECISION, with_c=True),
        **one(CLIP_ACCURACY),
        "shots": one(SHOTS),
        "by_length": con.execute(ACCURACY_BY_LENGTH).fetchall(),
        "clip_windows": con.execute(
            "SELECT list((video, start_s, end_s) ORDER BY video, start_s, end_s) FROM predictions"
        ).fetchone()[0],
    }


def pct(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.1%}" if whole else "-"


def seconds(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(results: list[dict]) -> str:
    lines = [
        "| windows | clip / stride s | clips (same windows as fixed?) | wall s | B starts within ±C | A ends within ±C "
        "| either | mean \\|err\\| s (B starts / either) | start precision | clip top-1 inside one action / straddling "
        "| missed: B never a segment |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        same = "yes" if r["clip_windows"] == results[0]["clip_windows"] else "no"
        lines.append(
            f"| {r['name']} | {r['clip_s']:g} / {r['stride_s']:g} | {len(r['clip_windows'])} ({same}) "
            f"| {r['wall_s']:.0f} | **{pct(r['b_starts'], r['changes'])}** | {pct(r['a_ends'], r['changes'])} "
            f"| **{pct(r['either'], r['changes'])}** "
            f"| {seconds(r['b_start_mean_err'])} / {seconds(r['either_mean_err'])} "
            f"| {pct(r['at_a_change'], r['starts'])} "
            f"| {pct(r['inside_ok'], r['inside'])} / {pct(r['straddling_ok'], r['straddling'])} "
            f"| {r['missed_b_never_segmented']} |"
        )
    shots = results[0]["shots"]
    same = all(r["shots"] == shots for r in results)
    lines += [
        "",
        "| shots table | recall ±1 frame | exact | precision ±1 frame | videos ok |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results if not same else results[:1]:
        s = r["shots"]
        lines.append(
            f"| {'every run (identical)' if same else r['name']} | {pct(s['found_1'], s['changes'])} "
            f"| {pct(s['found_0'], s['changes'])} | {pct(s['right_1'], s['cuts'])} | {s['videos_ok']}/{s['videos']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=pathlib.Path, help="Default: the demo's, bench/.models/demo/model.")
    parser.add_argument("--sequences", type=int, help="Sequence videos to render (default 20; 6 with --quick).")
    parser.add_argument("--seed", type=int, default=11, help="synth's seed for the sequence videos.")
    parser.add_argument("--quick", action="store_true", help="6 videos, fixed and shots windows only.")
    parser.add_argument("--work", type=pathlib.Path, default=WORK, help="Videos, tables and figures (ignored by git).")
    parser.add_argument("--measure_only", action="store_true", help="Measure the tables of an earlier run again.")
    args = parser.parse_args()
    count = args.sequences or (6 if args.quick else 20)
    model = (args.model or demo_model()).resolve()
    labels = (model / "labels.txt").read_text().split() if (model / "labels.txt").exists() else []
    if labels and set(DEMO_CLASSES) - set(labels):
        sys.exit(f"{model} does not know the demo's classes {sorted(set(DEMO_CLASSES) - set(labels))}")
    meta = json.loads((model / "vidlabel.json").read_text())
    clip_s = meta["clip_frames"] / meta["fps"]  # C: the model's own clip length, the tolerance of every variant

    videos = args.work / f"videos-n{count}-seed{args.seed}"
    render_s = render(videos, count, args.seed)
    variants = [("fixed", ["--windows", "fixed"]), ("shots", ["--windows", "shots"])]
    if not args.quick:
        variants += [
            ("fixed, overlapping", ["--windows", "fixed", "--stride_seconds", f"{clip_s / 2:g}"]),
            ("shots, overlapping", ["--windows", "shots", "--stride_seconds", f"{clip_s / 2:g}"]),
            (f"shots, {2 * clip_s:g}-s clips", ["--windows", "shots", "--clip_seconds", f"{2 * clip_s:g}"]),
        ]

    con = duckdb.connect()
    setup(con, videos / "sequences.csv")
    total = con.execute("SELECT count(DISTINCT video), count(*), sum(end_s - start_s) FROM truth").fetchone()
    results = []
    for name, flags in variants:
        slug = name.replace(", ", "-").replace(" ", "")
        tables = args.work / f"tables-n{count}-seed{args.seed}-{slug}"
        if not args.measure_only:
            label(model, videos, tables, flags)
        wall = json.loads((tables / "run.json").read_text())["elapsed_s"]  # vidlabel's own, start-up included
        result = {"name": name, "flags": flags, "wall_s": wall}
        result.update(measure(con, tables, clip_s, args.work / f"per-change-n{count}-seed{args.seed}-{slug}.csv"))
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "clip_windows"}), flush=True)

    print(
        f"\nmodel {model}; {total[0]} sequence videos, {total[1]} actions, {total[1] - total[0]} changes, "
        f"{total[2]:.0f} s of video (rendered in {render_s:.0f} s); C = the model's clip length, {clip_s:g} s; "
        f"min_score {results[0]['min_score']}\n"
    )
    table = markdown(results)
    table += f"\n\n| action length s | actions | clips inside it, top-1 right ({results[0]['name']}) |"
    table += "\n| --- | --- | --- |"
    for action_s, actions, clips, right in results[0]["by_length"]:
        table += f"\n| {action_s}-{action_s + 1} | {actions} | {pct(right, clips)} |"
    print(table)
    for r in results:
        r["clip_windows"] = len(r["clip_windows"])
    (args.work / f"results-n{count}-seed{args.seed}.json").write_text(json.dumps(results, indent=1))
    (args.work / f"results-n{count}-seed{args.seed}.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
