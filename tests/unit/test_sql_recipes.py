"""The SQL recipes of docs/sql.md, read from the page itself so that the page and its checks cannot drift.

Each DuckDB recipe has a check here that runs it on an output folder and compares its answer with the same answer
computed from the Parquet files in Python (`CHECKS`); this tier runs them on small tables written by hand in the
exact schemas, `tests/test_sql_recipes.py` on a real `vidlabel run`. Every BigQuery recipe must parse in BigQuery's
dialect and take the same parameters as its DuckDB twin.
"""

import collections
import glob
import pathlib
import re

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from vidlabel.transforms import schema

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "sql.md"
RECIPE = re.compile(r"<!-- recipe: (\w+) (duckdb|bigquery) -->\n```sql\n(.*?)```", re.S)


def recipes() -> dict[tuple[str, str], str]:
    """{(name, dialect): SQL} of every recipe on the page."""
    found = {}
    for name, dialect, sql in RECIPE.findall(DOC.read_text()):
        assert (name, dialect) not in found, f"recipe {name} {dialect} twice"
        found[name, dialect] = sql
    return found


def parameters(sql: str, sigil: str) -> set[str]:
    return set(re.findall(rf"{re.escape(sigil)}(\w+)", sql))


def run(output, name: str, **params) -> list[tuple]:
    """The DuckDB recipe `name` on the tables in `output`, as a user runs it."""
    return duckdb.execute(recipes()[name, "duckdb"], {"output": str(output), **params}).fetchall()


def rows(output, table: str) -> list[dict]:
    """A table's rows, read with pyarrow: the recipes' answers are checked against these."""
    files = sorted(glob.glob(f"{output}/{table}-*.parquet"))
    assert files, f"no {table} table in {output}"
    return pa.concat_tables(pq.read_table(f, schema=schema.TABLES[table]) for f in files).to_pylist()


def top(entries, i: int, key: str):
    return entries[i][key] if entries and len(entries) > i else None


def check_longest_segments(output):
    segments = rows(output, "segments")
    assert segments
    by_label = collections.defaultdict(list)
    for s in segments:
        by_label[s["label"]].append(s)
    expected = []
    for label in sorted(by_label):
        ranked = sorted(by_label[label], key=lambda s: (-(s["end_s"] - s["start_s"]), s["video_uri"], s["start_s"]))
        expected += [(label, i + 1, s["video_uri"], s["start_s"], s["end_s"]) for i, s in enumerate(ranked[:2])]
    got = run(output, "longest_segments", top=2)
    assert [r[:5] for r in got] == expected
    longest = {label: max(s["end_s"] - s["start_s"] for s in group) for label, group in by_label.items()}
    assert {r[0]: r[5] for r in got if r[1] == 1} == pytest.approx(longest)


def a_then_b_pairs(segments, within_s) -> dict[tuple[str, str], list[tuple]]:
    """{(label A, label B): [(video, A's start and end, B's start and end)]} of every B that follows an A."""
    per_video = collections.defaultdict(list)
    for s in segments:
        per_video[s["video_uri"]].append(s)
    pairs = collections.defaultdict(list)
    for uri, video in per_video.items():
        for a in video:
            for b in video:
                if a["start_s"] < b["start_s"] <= a["end_s"] + within_s and b["end_s"] > a["end_s"]:
                    pairs[a["label"], b["label"]].append((uri, a["start_s"], a["end_s"], b["start_s"], b["end_s"]))
    return pairs


def check_a_then_b(output):
    within_s = 2.0
    pairs = a_then_b_pairs(rows(output, "segments"), within_s)
    found = sorted(labels for labels in pairs if labels[0] != labels[1])
    assert found, "no label followed by another within 2 s: nothing to check"
    label_a, label_b = found[0]
    for a, b in ((label_a, label_b), (label_b, label_a)):  # a pair that exists, and the other order
        got = run(output, "a_then_b", label_a=a, label_b=b, within_s=within_s)
        assert [r[:5] for r in got] == sorted(pairs.get((a, b), []))
        assert [r[5] for r in got] == pytest.approx([r[3] - r[2] for r in got])
    assert run(output, "a_then_b", label_a=label_a, label_b=label_b, within_s=within_s)


def check_unconfident_shots(output):
    shots = rows(output, "shots")
    best = sorted({max(k["score"] for k in s["top_k"]) for s in shots if s["top_k"]})
    assert len(best) >= 2, "every shot equally confident: nothing to tell apart"
    threshold = best[len(best) // 2]
    expected = sorted(
        (s["video_uri"], s["shot_index"], s["start_s"], s["end_s"], top(s["top_k"], 0, "label"))
        for s in shots
        if not any(k["score"] >= threshold for k in s["top_k"] or [])
    )
    got = run(output, "unconfident_shots", min_score=threshold)
    assert [r[:5] for r in got] == expected and 0 < len(got) < len(shots)


def check_video_segments(output):
    segments = rows(output, "segments")
    per_video = collections.Counter(s["video_uri"] for s in segments)
    video = max(sorted(per_video), key=per_video.get)
    expected = sorted(
        (s for s in segments if s["video_uri"] == video), key=lambda s: (s["start_s"], -s["confidence"], s["label"])
    )
    got = run(output, "video_segments", video_uri=video)
    assert got == [(s["label"], s["start_s"], s["end_s"], s["confidence"], s["num_clips"]) for s in expected]


def check_video_seconds(output):
    seconds = rows(output, "frame_labels")
    per_video = collections.Counter(s["video_uri"] for s in seconds)
    video = max(sorted(per_video), key=per_video.get)
    expected = sorted((s for s in seconds if s["video_uri"] == video), key=lambda s: s["time_s"])
    got = run(output, "video_seconds", video_uri=video)
    assert len(got) == per_video[video] > 1
    assert got == [
        (s["time_s"], top(s["top_k"], 0, "label"), top(s["top_k"], 0, "score"))
        + (top(s["top_k"], 1, "label"), top(s["top_k"], 1, "score"))
        for s in expected
    ]


def check_label_changes(output):
    seconds = sorted(rows(output, "frame_labels"), key=lambda s: (s["video_uri"], s["time_s"]))
    expected, previous = [], {}
    for s in seconds:
        label = top(s["top_k"], 0, "label")
        if s["video_uri"] not in previous or previous[s["video_uri"]] != label:
            expected.append((s["video_uri"], s["time_s"], label, previous.get(s["video_uri"])))
        previous[s["video_uri"]] = label
    got = run(output, "label_changes")
    assert got == expected and len(got) > len(previous)  # at least one change after a first second


def check_seconds_per_label(output):
    segments = rows(output, "segments")
    totals = collections.defaultdict(lambda: [set(), 0, 0.0])
    for s in segments:
        total = totals[s["label"]]
        total[0].add(s["video_uri"])
        total[1] += 1
        total[2] += s["end_s"] - s["start_s"]
    got = run(output, "seconds_per_label")
    assert {r[0]: r[1:] for r in got} == {
        label: (len(v), n, pytest.approx(sec)) for label, (v, n, sec) in totals.items()
    }
    assert [r[3] for r in got] == sorted((r[3] for r in got), reverse=True)


def check_first_start(output):
    segments, videos = rows(output, "segments"), rows(output, "videos")
    in_videos = collections.defaultdict(set)
    for s in segments:
        in_videos[s["label"]].add(s["video_uri"])
    label = max(sorted(in_videos), key=lambda label: len(in_videos[label]))
    duration = {v["video_uri"]: v["duration_s"] for v in videos}
    first = {}
    for s in segments:
        if s["label"] == label:
            first[s["video_uri"]] = min(first.get(s["video_uri"], s["start_s"]), s["start_s"])
    expected = sorted(((uri, start, duration[uri]) for uri, start in first.items()), key=lambda r: (r[1], r[0]))
    assert run(output, "first_start", label=label) == expected


def dot(a, b) -> float:
    return sum(x * y for x, y in zip(a, b))


def check_nearest_clips(output):
    clips = [c for c in rows(output, "predictions") if c["embedding"] is not None]
    assert clips
    query = clips[0]  # the first clip of a video: $at_s at its start
    others = [c for c in clips if c["video_uri"] != query["video_uri"]]
    expected = sorted(
        ((c["video_uri"], c["start_s"], c["end_s"], dot(c["embedding"], query["embedding"])) for c in others),
        key=lambda r: (-r[3], r[0], r[1]),
    )[:3]
    got = run(output, "nearest_clips", video_uri=query["video_uri"], at_s=query["start_s"], top=3)
    assert [r[:3] for r in got] == [r[:3] for r in expected]
    assert [r[3] for r in got] == pytest.approx([r[3] for r in expected], abs=1e-5)


def check_nearest_videos(output):
    videos = [v for v in rows(output, "videos") if v["embedding"] is not None]
    assert len(videos) > 1
    query = videos[0]
    expected = sorted(
        (
            (v["video_uri"], v["duration_s"], dot(v["embedding"], query["embedding"]))
            for v in videos
            if v["video_uri"] != query["video_uri"]
        ),
        key=lambda r: (-r[2], r[0]),
    )
    got = run(output, "nearest_videos", video_uri=query["video_uri"], top=10)
    assert [r[:2] for r in got] == [r[:2] for r in expected]
    assert [r[2] for r in got] == pytest.approx([r[2] for r in expected], abs=1e-5)


def check_duplicate_pairs(output):
    videos = sorted((v for v in rows(output, "videos") if v["embedding"] is not None), key=lambda v: v["video_uri"])
    pairs = [
        (a["video_uri"], b["video_uri"], dot(a["embedding"], b["embedding"]))
        for i, a in enumerate(videos)
        for b in videos[i + 1 :]
    ]
    threshold = sorted(p[2] for p in pairs)[len(pairs) // 2]  # about half the pairs pass
    expected = sorted((p for p in pairs if p[2] >= threshold - 1e-6), key=lambda p: (-p[2], p[0], p[1]))
    got = run(output, "duplicate_pairs", threshold=threshold - 1e-6)
    assert [r[:2] for r in got] == [p[:2] for p in expected]


CHECKS = {
    "longest_segments": check_longest_segments,
    "a_then_b": check_a_then_b,
    "unconfident_shots": check_unconfident_shots,
    "video_segments": check_video_segments,
    "video_seconds": check_video_seconds,
    "label_changes": check_label_changes,
    "seconds_per_label": check_seconds_per_label,
    "first_start": check_first_start,
    "nearest_clips": check_nearest_clips,
    "nearest_videos": check_nearest_videos,
    "duplicate_pairs": check_duplicate_pairs,
}


# --- hand-written tables ---------------------------------------------------------------------------------------------

ONE, TWO, BROKEN = "/archive/one.mp4", "/archive/two.mp4", "/archive/broken.mp4"


def k(*pairs):
    return [{"label": label, "score": score} for label, score in pairs]


def segment(uri, label, start_s, end_s, confidence, num_clips):
    return dict(video_uri=uri, label=label, start_s=start_s, end_s=end_s, confidence=confidence, num_clips=num_clips)


THREE = "/archive/three.mp4"  # the same footage as ONE, re-encoded: nearly the same embedding
A0_DIM = 480  # the recipes cast to A0's size


def e(*values):
    """An A0-sized embedding whose first numbers are `values`, the rest 0."""
    return [*values, *[0.0] * (A0_DIM - len(values))]


def clip(uri, start_s, embedding):
    return dict(video_uri=uri, clip_index=int(start_s // 4), start_s=start_s, end_s=start_s + 4.0, embedding=embedding)


HAND_WRITTEN = {
    "videos": [
        {"video_uri": ONE, "status": "ok", "duration_s": 20.0, "num_clips": 5, "top_k": k(("juggling", 0.5))}
        | {"embedding": e(0.6, 0.8, 0.0)},
        {"video_uri": TWO, "status": "ok", "duration_s": 12.5, "num_clips": 4, "top_k": k(("dancing", 0.6))}
        | {"embedding": e(0.0, 0.6, 0.8)},
        {"video_uri": THREE, "status": "ok", "duration_s": 20.0, "num_clips": 5, "top_k": k(("juggling", 0.5))}
        | {"embedding": e(0.64, 0.768, 0.0)},
        {"video_uri": BROKEN, "status": "error", "error": "no video stream"},
    ],
    "predictions": [
        clip(ONE, 0.0, e(1.0, 0.0, 0.0)),
        clip(ONE, 4.0, e(0.0, 1.0, 0.0)),
        clip(TWO, 0.0, e(0.0, 0.6, 0.8)),
        clip(TWO, 4.0, e(0.8, 0.0, 0.6)),
        clip(THREE, 0.0, e(0.96, 0.28, 0.0)),
        clip(THREE, 4.0, e(0.0, 0.96, 0.28)),
    ],
    "segments": [
        segment(ONE, "juggling", 0.0, 8.0, 0.75, 2),
        segment(ONE, "dancing", 6.0, 12.0, 0.5, 2),  # takes over while juggling still holds: a gap of -2 s
        segment(ONE, "juggling", 16.0, 20.0, 0.5, 1),
        segment(TWO, "dancing", 0.0, 4.0, 0.625, 1),
        segment(TWO, "juggling", 5.5, 12.5, 0.875, 2),  # 1.5 s after dancing
        segment(TWO, "skiing", 8.0, 12.5, 0.375, 1),  # inside juggling's time: it does not follow it
    ],
    "shots": [
        {"video_uri": ONE, "shot_index": 0, "start_s": 0.0, "end_s": 9.5, "top_k": k(("juggling", 0.625))},
        {"video_uri": ONE, "shot_index": 1, "start_s": 9.5, "end_s": 9.55, "top_k": None},  # no sampled frame
        {"video_uri": ONE, "shot_index": 2, "start_s": 9.55, "end_s": 20.0, "top_k": k(("dancing", 0.25))},
        {"video_uri": TWO, "shot_index": 0, "start_s": 0.0, "end_s": 12.5, "top_k": k(("juggling", 0.5))},
    ],
    "frame_labels": [
        {"video_uri": TWO, "time_s": float(t), "top_k": k((label, 0.5), ("skiing", 0.25))}
        for t, label in enumerate(["dancing"] * 5 + ["juggling"] * 8)
    ]
    + [{"video_uri": ONE, "time_s": 0.0, "top_k": k(("juggling", 0.75))}],
}


@pytest.fixture(scope="module")
def hand_written(tmp_path_factory):
    """An output folder with every table, in the exact schemas, and rows whose answers are known."""
    out = tmp_path_factory.mktemp("hand-written")
    for name, table_schema in schema.TABLES.items():
        table = pa.Table.from_pylist(HAND_WRITTEN.get(name, []), schema=table_schema)
        pq.write_table(table, out / f"{name}-00000-of-00001.parquet")
    return out


def test_every_recipe_is_written_for_both_dialects_with_the_same_parameters_and_has_a_check():
    found = recipes()
    names = {name for name, _ in found}
    assert names == set(CHECKS)
    for name in names:
        assert parameters(found[name, "duckdb"], "$") - {"output"} == parameters(found[name, "bigquery"], "@"), name
        assert "read_parquet($output || '/" in found[name, "duckdb"], name


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_bigquery_recipe_parses_in_bigquerys_dialect_on_the_loaded_tables(name):
    tree = sqlglot.parse_one(recipes()[name, "bigquery"], read="bigquery", error_level=ErrorLevel.RAISE)
    tables = {(t.db, t.name) for t in tree.find_all(sqlglot.exp.Table) if t.db}
    assert tables and all(db == "archive" and table in schema.TABLES for db, table in tables), tables


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_duckdb_recipe_answers_right_on_hand_written_tables(name, hand_written):
    CHECKS[name](hand_written)


def test_the_hand_written_answers_are_the_ones_meant(hand_written):
    """The generic checks compare with Python; these pin a few answers by hand, so both cannot be wrong alike."""
    assert run(hand_written, "longest_segments", top=1)[1][:5] == ("juggling", 1, ONE, 0.0, 8.0)
    assert run(hand_written, "a_then_b", label_a="dancing", label_b="juggling", within_s=2.0) == [
        (TWO, 0.0, 4.0, 5.5, 12.5, 1.5)
    ]
    assert run(hand_written, "a_then_b", label_a="juggling", label_b="dancing", within_s=2.0) == [
        (ONE, 0.0, 8.0, 6.0, 12.0, -2.0)
    ]
    assert run(hand_written, "a_then_b", label_a="juggling", label_b="skiing", within_s=9.0) == []
    assert [r[:2] for r in run(hand_written, "unconfident_shots", min_score=0.5)] == [(ONE, 1), (ONE, 2)]
    assert run(hand_written, "label_changes")[1:] == [(TWO, 0.0, "dancing", None), (TWO, 5.0, "juggling", "dancing")]
    assert run(hand_written, "seconds_per_label")[0] == ("juggling", 2, 3, 19.0)
    assert run(hand_written, "first_start", label="juggling") == [(ONE, 0.0, 20.0), (TWO, 5.5, 12.5)]
    nearest = run(hand_written, "nearest_clips", video_uri=ONE, at_s=1.0, top=2)
    assert [r[:2] for r in nearest] == [(THREE, 0.0), (TWO, 4.0)]  # similarities 0.96, 0.8
    assert [r[:2] for r in run(hand_written, "nearest_videos", video_uri=ONE, top=5)] == [(THREE, 20.0), (TWO, 12.5)]
    assert [r[:2] for r in run(hand_written, "duplicate_pairs", threshold=0.95)] == [(ONE, THREE)]
