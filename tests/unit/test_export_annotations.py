"""`vidlabel export-annotations`: every file read back with the official Video Intelligence client's types and held
to the Parquet tables it came from; file names, the entity ids, older results and the refusals.

`check_export` validates any result folder against its export, so an end-to-end test can call it on the output of
a real `vidlabel run`.
"""

import hashlib
import json
import os
import re
import urllib.parse

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.cloud import videointelligence_v1 as vi

from vidlabel.pipeline import cli
from vidlabel.pipeline.commands import export_annotations
from vidlabel.transforms import schema

RUN_ID = "20260101T000000Z-abcd"
MODEL = "a0-base"
PASSING = "passing American football (in game)"
JUGGLING = "juggling balls"
BALLET = "dancing ballet"

CLIP = "/archive/clip one.mp4"
SPACED = "gs://bucket/a b/ü.mp4"
BROKEN = "/archive/broken.mp4"
LONG = "gs://bucket/" + "ü" * 100 + ".mp4"  # 600 bytes once percent-encoded
UPPER, LOWER = "gs://bucket/Case.mp4", "gs://bucket/case.mp4"  # one file on a case-insensitive file system
ENCODED = "gs://bucket/already%20encoded.mp4"
CLIP_S = 376 / 30  # 12.5333... s: not a whole number of microseconds


def top(*pairs):
    return [{"label": label, "score": score} for label, score in pairs]


def ok_video(uri, duration_s, best):
    return {"video_uri": uri, "status": "ok", "duration_s": duration_s, "top_k": best, "model": MODEL, "run_id": RUN_ID}


TABLE_ROWS = {
    "videos": [
        ok_video(CLIP, CLIP_S, top((PASSING, 0.71595228), (JUGGLING, 0.2))),
        ok_video(SPACED, 3.0, top((BALLET, 0.5))),
        {"video_uri": BROKEN, "status": "error", "error": "not a video", "model": MODEL, "run_id": RUN_ID},
        ok_video(LONG, 1.0, top((JUGGLING, 0.9))),
        ok_video(UPPER, 1.0, top((JUGGLING, 0.9))),
        ok_video(LOWER, 1.0, top((BALLET, 0.9))),
        ok_video(ENCODED, 2.0, top((PASSING, 0.0))),  # a zero score: the service leaves such a field out
    ],
    "shots": [  # out of order, as shards may hold them
        {
            "video_uri": CLIP,
            "shot_index": 1,
            "start_s": 151 / 30,
            "end_s": CLIP_S,
            "top_k": top((JUGGLING, 0.6), (PASSING, 0.3)),
        },
        {
            "video_uri": CLIP,
            "shot_index": 0,
            "start_s": 0.0,
            "end_s": 151 / 30,
            "top_k": top((PASSING, 0.9), (BALLET, 0.05)),
        },
        {"video_uri": SPACED, "shot_index": 0, "start_s": 0.0, "end_s": 2.96, "top_k": top((BALLET, 0.5))},
        {"video_uri": SPACED, "shot_index": 1, "start_s": 2.96, "end_s": 3.0, "top_k": None},  # no sampled frame
    ],
    "segments": [
        {"video_uri": CLIP, "label": PASSING, "start_s": 10.0, "end_s": CLIP_S, "confidence": 0.35, "num_clips": 1},
        {"video_uri": CLIP, "label": PASSING, "start_s": 0.0, "end_s": 6.0, "confidence": 0.8, "num_clips": 3},
        {"video_uri": CLIP, "label": JUGGLING, "start_s": 6.0, "end_s": CLIP_S, "confidence": 0.55, "num_clips": 4},
        {"video_uri": SPACED, "label": BALLET, "start_s": 0.0, "end_s": 3.0, "confidence": 0.5, "num_clips": 1},
    ],
    "frame_labels": [
        {"video_uri": CLIP, "time_s": float(t), "top_k": top((PASSING, 0.5 + t / 10), (JUGGLING, 0.4 - t / 10))}
        for t in (3, 0, 2, 1)
    ],
}
NEWER_TABLES = ("shots", "segments", "frame_labels")


def write_result(folder, omit=()):
    """A result folder as `vidlabel run` publishes it: every table of the schema (empty ones too, in its exact
    schema) and run.json; `omit`: tables an older vidlabel did not write."""
    os.makedirs(folder)
    for name, table_schema in schema.TABLES.items():
        if name in omit:
            continue
        rows = [{"model": MODEL, "run_id": RUN_ID, **row} for row in TABLE_ROWS.get(name, [])]
        pq.write_table(
            pa.Table.from_pylist(rows, schema=table_schema), os.path.join(folder, f"{name}-00000-of-00001.parquet")
        )
    with open(os.path.join(folder, "run.json"), "w") as f:
        json.dump({"schema_version": schema.SCHEMA_VERSION, "run_id": RUN_ID}, f)
    return str(folder)


def export(result, out, *extra):
    return cli.main(["export-annotations", str(result), "--format", "video-intelligence", "--out", str(out), *extra])


def parse(text: str) -> vi.AnnotateVideoResponse:
    """The official types read a file as its consumers do (`json.load`, then the message): a field the proto does
    not declare, or one in another casing (`annotationResults`), is refused."""
    return vi.AnnotateVideoResponse(json.loads(text))


def nanos(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def duration_nanos(duration) -> int:
    return duration.seconds * 1_000_000_000 + duration.nanos


def f32(value: float) -> np.float32:
    return np.float32(value)


def table_rows(folder: str, table: str) -> list[dict]:
    """A table read back with DuckDB (not the exporter's reader); a table the result lacks has no rows."""
    pattern = os.path.join(folder, f"{table}-*.parquet")
    if not duckdb.sql(f"SELECT count(*) FROM glob('{pattern}')").fetchall()[0][0]:
        return []
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{pattern}')")
    return [dict(zip(relation.columns, row)) for row in relation.fetchall()]


def check_export(result: str, export_dir: str) -> dict[str, vi.AnnotateVideoResponse]:
    """Checks an export against the result it was made from; returns each video's parsed response by URI.

    Every file is listed once in index.jsonl under a safe name that maps back to its video; every "ok" video has a
    file and no other does; each file parses with the official types and holds exactly what the tables say
    (times to the nanosecond, confidences to the float32), one annotation per label, entity ids by the scheme.
    """
    result = os.path.realpath(result)
    with open(os.path.join(export_dir, export_annotations.INDEX), encoding="utf-8") as f:
        index = [json.loads(line) for line in f]
    names = [entry["file"] for entry in index]
    assert sorted(names) == sorted(set(os.listdir(export_dir)) - {export_annotations.INDEX})
    assert len({name.lower() for name in names}) == len(names)  # distinct on a case-insensitive file system too
    for entry in index:
        name, uri = entry["file"], entry["video_uri"]
        assert re.fullmatch(r"[A-Za-z0-9%._~+-]+\.json", name) and len(name.encode()) <= 255, name
        if "+" in name:
            assert name.endswith("+" + hashlib.sha256(uri.encode()).hexdigest()[:32] + ".json")
        else:
            assert urllib.parse.unquote(name.removesuffix(".json")) == uri

    videos = {v["video_uri"]: v for v in table_rows(result, "videos")}
    assert {entry["video_uri"] for entry in index} == {u for u, v in videos.items() if v["status"] == "ok"}
    by_video = {table: {} for table in NEWER_TABLES}
    for table in NEWER_TABLES:
        for row in table_rows(result, table):
            by_video[table].setdefault(row["video_uri"], []).append(row)

    responses = {}
    for entry in index:
        uri = entry["video_uri"]
        with open(os.path.join(export_dir, entry["file"]), encoding="utf-8") as f:
            response = parse(f.read())
        assert vi.AnnotateVideoResponse.from_json(vi.AnnotateVideoResponse.to_json(response)) == response  # REST form
        (annotations,) = vi.AnnotateVideoResponse.pb(response).annotation_results  # raw protobuf: Duration nanos
        video = videos[uri]
        shots = sorted(by_video["shots"].get(uri, []), key=lambda s: s["shot_index"])
        segments = by_video["segments"].get(uri, [])
        frames = by_video["frame_labels"].get(uri, [])

        assert annotations.input_uri == uri
        whole = (0, nanos(video["duration_s"]))
        assert span(annotations.segment) == whole
        assert [span(shot) for shot in annotations.shot_annotations] == [
            (nanos(s["start_s"]), nanos(s["end_s"])) for s in shots
        ]
        over_whole = [(t["label"], *whole, f32(t["score"])) for t in video["top_k"] or []]
        ranges = [(s["label"], nanos(s["start_s"]), nanos(s["end_s"]), f32(s["confidence"])) for s in segments]
        repeats = {(label, *whole) for label, *_ in over_whole}  # a range over the whole video is said once
        assert found(annotations.segment_label_annotations, "segments", whole) == sorted(
            over_whole + [r for r in ranges if r[:3] not in repeats]
        )
        assert found(annotations.shot_label_annotations, "segments") == sorted(
            (t["label"], nanos(s["start_s"]), nanos(s["end_s"]), f32(t["score"]))
            for s in shots
            for t in s["top_k"] or []
        )
        assert found(annotations.frame_label_annotations, "frames") == sorted(
            (t["label"], nanos(fr["time_s"]), f32(t["score"])) for fr in frames for t in fr["top_k"] or []
        )
        responses[uri] = response
    return responses


def span(segment) -> tuple[int, int]:
    return duration_nanos(segment.start_time_offset), duration_nanos(segment.end_time_offset)


def found(label_annotations, kind: str, whole: tuple[int, int] | None = None) -> list[tuple]:
    """(label, times in ns..., float32 confidence) of every segment or frame; checks one annotation per label, its
    entity, and its entries in time order (after the `whole` video's segment, which comes first where it is)."""
    labels = [a.entity.description for a in label_annotations]
    assert len(labels) == len(set(labels)), labels
    entries = []
    for annotation in label_annotations:
        label = annotation.entity.description
        assert annotation.entity.entity_id == "/vidlabel/label/" + urllib.parse.quote_plus(label, safe="()'")
        assert annotation.entity.language_code == "en-US"
        if kind == "frames":
            times = [(duration_nanos(frame.time_offset),) for frame in annotation.frames]
            confidences = [frame.confidence for frame in annotation.frames]
        else:
            times = [span(s.segment) for s in annotation.segments]
            confidences = [s.confidence for s in annotation.segments]
        ranges = times[1:] if times and times[0] == whole else times
        assert ranges == sorted(ranges), (label, times)
        entries += [(label, *t, f32(c)) for t, c in zip(times, confidences)]
    return sorted(entries)


@pytest.fixture
def result(tmp_path):
    return write_result(tmp_path / "result")


def read_index(out) -> dict[str, str]:
    with open(os.path.join(out, export_annotations.INDEX), encoding="utf-8") as f:
        return {entry["video_uri"]: entry["file"] for entry in map(json.loads, f)}


def test_every_ok_video_gets_a_file_that_the_official_types_read_and_the_tables_confirm(result, tmp_path, capsys):
    out = tmp_path / "vi"
    assert export(result, out) == 0
    printed = capsys.readouterr().out
    assert "wrote 6 file(s)" in printed and "1 failed video(s) have none" in printed
    responses = check_export(result, str(out))
    assert BROKEN not in responses

    clip = vi.AnnotateVideoResponse.pb(responses[CLIP]).annotation_results[0]
    assert duration_nanos(clip.segment.end_time_offset) == 12_533_333_333  # 376/30 s to the nanosecond
    assert len(clip.shot_annotations) == 2
    assert duration_nanos(clip.shot_annotations[1].start_time_offset) == 5_033_333_333
    passing = clip.segment_label_annotations[0]  # best first: its range at 0.8 beats juggling's best
    assert passing.entity.description == PASSING and [s.confidence for s in passing.segments] == pytest.approx(
        [0.71595228, 0.8, 0.35]
    )
    assert f32(passing.segments[0].confidence) == f32(0.71595228)  # exactly the table's float32
    assert [span(s.segment) for s in passing.segments] == [
        (0, 12_533_333_333),
        (0, 6 * 10**9),
        (10**10, 12_533_333_333),
    ]
    assert [duration_nanos(f.time_offset) for f in clip.frame_label_annotations[0].frames] == [
        0,
        10**9,
        2 * 10**9,
        3 * 10**9,
    ]
    spaced = vi.AnnotateVideoResponse.pb(responses[SPACED]).annotation_results[0]
    assert [a.entity.description for a in spaced.shot_label_annotations] == [BALLET]  # the short shot has no top_k
    assert len(spaced.segment_label_annotations[0].segments) == 1  # its range over the whole video is not repeated
    assert len(spaced.shot_annotations) == 2 and not spaced.frame_label_annotations


def test_files_hold_the_service_shape_field_names_and_durations(result, tmp_path):
    out = tmp_path / "vi"
    assert export(result, out) == 0
    with open(out / read_index(out)[CLIP], encoding="utf-8") as f:
        written = json.load(f)
    (annotations,) = written["annotation_results"]
    assert set(annotations) == {
        "input_uri",
        "segment",
        "segment_label_annotations",
        "shot_label_annotations",
        "frame_label_annotations",
        "shot_annotations",
    }
    assert annotations["segment"] == {"start_time_offset": {}, "end_time_offset": {"seconds": 12, "nanos": 533333333}}
    assert annotations["segment_label_annotations"][0]["entity"] == {
        "entity_id": "/vidlabel/label/passing+American+football+(in+game)",
        "description": PASSING,
        "language_code": "en-US",
    }
    written_score = annotations["segment_label_annotations"][0]["segments"][0]["confidence"]
    assert written_score == 0.7159523 and f32(written_score) == f32(0.71595228)  # fewest digits, same float32
    with open(out / read_index(out)[ENCODED], encoding="utf-8") as f:
        zero = json.load(f)["annotation_results"][0]["segment_label_annotations"][0]["segments"][0]
    assert zero == {"segment": {"start_time_offset": {}, "end_time_offset": {"seconds": 2}}}  # no zero confidence
    with pytest.raises(ValueError, match="annotationResults"):
        parse(json.dumps({"annotationResults": []}))  # the REST reference's casing is not the files'


def test_file_names_are_safe_reversible_and_listed_in_the_index(result, tmp_path):
    out = tmp_path / "vi"
    assert export(result, out) == 0
    names = read_index(out)
    assert names[SPACED] == "gs%3A%2F%2Fbucket%2Fa%20b%2F%C3%BC.mp4.json"
    assert names[ENCODED] == "gs%3A%2F%2Fbucket%2Falready%2520encoded.mp4.json"  # the "%" itself is escaped
    assert names[CLIP] == "%2Farchive%2Fclip%20one.mp4.json"
    long = names[LONG]
    assert len(long) <= 255 and long.startswith("gs%3A%2F%2Fbucket%2F%C3%BC") and "+" in long
    assert re.fullmatch(r"(%[0-9A-F]{2}|[^%])*\+[0-9a-f]{32}\.json", long)  # no escape cut in half
    assert names[UPPER] == "gs%3A%2F%2Fbucket%2FCase.mp4.json" and "+" in names[LOWER]
    assert {urllib.parse.unquote(n.removesuffix(".json")) for n in names.values() if "+" not in n} == set(names) - {
        LONG,
        LOWER,
    }


def test_entity_ids_are_the_class_names_so_every_run_and_model_shares_them():
    assert export_annotations.entity_id(PASSING) == "/vidlabel/label/passing+American+football+(in+game)"
    assert export_annotations.entity_id("massaging person's head") == "/vidlabel/label/massaging+person's+head"
    assert export_annotations.entity_id("move_left") == "/vidlabel/label/move_left"
    for label in (PASSING, "a/b+c%d", "ü ß", "massaging person's head"):
        encoded = export_annotations.entity_id(label).removeprefix("/vidlabel/label/")
        assert "/" not in encoded and urllib.parse.unquote_plus(encoded) == label


def test_a_result_without_the_newer_tables_exports_what_it_has_and_says_so_once(tmp_path, capsys):
    result = write_result(tmp_path / "old", omit=NEWER_TABLES)
    out = tmp_path / "vi"
    assert export(result, out) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no shots, segments, frame_labels table" in err
    responses = check_export(result, str(out))
    clip = responses[CLIP].annotation_results[0]
    assert [a.entity.description for a in clip.segment_label_annotations] == [PASSING, JUGGLING]
    assert not clip.shot_annotations and not clip.shot_label_annotations and not clip.frame_label_annotations


def test_a_missing_table_is_empty_and_the_others_still_export(tmp_path, capsys):
    result = write_result(tmp_path / "partial", omit=("frame_labels",))
    assert export(result, tmp_path / "vi") == 0
    assert "has no frame_labels table" in capsys.readouterr().err
    assert len(check_export(result, str(tmp_path / "vi"))[CLIP].annotation_results[0].shot_annotations) == 2


def test_the_published_link_of_a_local_output_is_read(result, tmp_path):
    os.symlink(result, tmp_path / "labels")
    assert export(tmp_path / "labels", tmp_path / "vi") == 0
    check_export(str(tmp_path / "labels"), str(tmp_path / "vi"))


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda tmp: tmp / "nowhere", "does not exist"),
        (lambda tmp: tmp, "is not a vidlabel result (it has no run.json)"),
        (
            lambda tmp: write_result(tmp / "r", omit=("videos",)),
            "is not a vidlabel result (it has no videos-*.parquet)",
        ),
    ],
)
def test_a_folder_that_is_not_a_result_is_refused(tmp_path, capsys, make, expect):
    (tmp_path / "notes.txt").write_text("mine")
    assert export(make(tmp_path), tmp_path / "vi") == 2
    err = capsys.readouterr().err
    assert err.startswith("vidlabel export-annotations: error: ") and expect in err
    assert "give the --output folder of a finished `vidlabel run`" in err and not (tmp_path / "vi").exists()


def test_bad_format_and_unusable_out_are_refused_before_any_work(result, tmp_path, capsys):
    args = ["export-annotations", result, "--out", str(tmp_path / "vi")]
    assert cli.main([*args, "--format", "rekognition"]) == 2
    assert "error: --format rekognition: choose from video-intelligence" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.json").write_text("{}")
    assert export(result, tmp_path / "full") == 2
    assert "--out" in capsys.readouterr().err and os.listdir(tmp_path / "full") == ["mine.json"]
    assert export(result, os.path.join(result, "vi")) == 2
    assert "is inside the result" in capsys.readouterr().err
    assert export(result, "gs://bucket/vi") == 2
    assert "give a local folder" in capsys.readouterr().err
    assert not (tmp_path / "vi").exists()
    (tmp_path / "empty").mkdir()
    assert export(result, tmp_path / "empty") == 0 and export_annotations.INDEX in os.listdir(tmp_path / "empty")
