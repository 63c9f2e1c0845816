"""--embeddings on real runs of every model form: each clip's embedding is the backbone's pooled features as Model
Garden's Keras model computes them (the independent reference, rebuilt from the same seed as the exported test
models), videos and shots get the normalised duration-weighted means, all read back with DuckDB."""

import json
import os
import pathlib
import urllib.parse

import av
import duckdb
import numpy as np
import pytest

from vidlabel.movinet.export import build_classifier
from vidlabel.pipeline.commands import synth
from vidlabel.transforms.clips import model_input
from vidlabel.transforms.decode import DecodeClips
from vidlabel.transforms.types import ClipSpec, VideoFile

from conftest import IN_PROCESS, SHARED, SMALL, vidlabel

VIDEO = SHARED / "videos" / "k400_arm_wrestling_h264.mp4"  # 10 s: three clips of 4 s at the small model's 2 fps
SEED = 7  # the seed the test models are exported with (conftest.small_export_args)
A0_DIM = 480


def model_path(form, small_model, stream_model):
    return {"base": small_model, "stream": stream_model, "tflite": stream_model / "model.tflite"}[form]


@pytest.fixture(scope="module")
def clips():
    """The video's clips as `vidlabel run` cuts them for the small models."""
    spec = ClipSpec(SMALL["fps"], SMALL["resolution"], clip_frames=SMALL["frames"], stride_frames=SMALL["frames"])
    decoder = DecodeClips(spec)
    decoder.setup()
    found = [o for o in decoder.process(VideoFile(str(VIDEO), None, None)) if isinstance(o, tuple)]
    decoder.teardown()
    return found


def keras_features(mode, clip_batch):
    """Model Garden's own pooled features (`endpoints["head"]`) and logits for the test model's weights: the same
    seed builds the same weights (the stream model's as a whole-clip network, which holds the same weights)."""
    import tensorflow as tf

    model = build_classifier("a0", mode, 600, seed=SEED, external_states=False)
    model.build([1, SMALL["frames"], SMALL["resolution"], SMALL["resolution"], 3])
    endpoints, _ = model.backbone({"image": tf.constant(clip_batch)})
    pooled = tf.reshape(endpoints["head"], [len(clip_batch), -1]).numpy()
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True), model(tf.constant(clip_batch)).numpy()


@pytest.fixture(scope="module")
def runs(small_model, stream_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("embeddings")
    outs = {}
    for form in ("base", "stream", "tflite"):
        outs[form] = root / form
        model = model_path(form, small_model, stream_model)
        vidlabel("run", *IN_PROCESS, "--input", VIDEO, "--output", outs[form], "--model", model, "--embeddings")
    return outs


def embeddings(out):
    rows = duckdb.sql(f"select start_s, end_s, embedding from '{out}/predictions-*.parquet' order by start_s")
    return rows.fetchall()


@pytest.mark.parametrize("form", ["base", "stream", "tflite"])
def test_clip_embeddings_are_model_gardens_pooled_features(form, runs, clips):
    """Base: read from the frozen serving graph (depthwise rewrite included); stream and TFLite: from the head
    pool's states after the clip's last frame. All three equal the Keras backbone's pooled features."""
    mode = "base" if form == "base" else "stream"
    batch = model_input(np.stack([frames for _, frames in clips if len(frames) == SMALL["frames"]]))
    reference, _ = keras_features(mode, batch)
    stored = embeddings(runs[form])
    assert [(s, e) for s, e, _ in stored] == [(k.start_s, k.end_s) for k, _ in clips]
    found = np.array([embedding for _, _, embedding in stored[: len(batch)]], np.float32)
    assert found.shape == (len(batch), A0_DIM)
    np.testing.assert_allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(found, reference, atol=2e-5)
    record = json.loads((runs[form] / "run.json").read_text())
    assert record["embeddings"] == {"dim": A0_DIM, "model": record["model"]["name"]}
    assert record["labelling"]["embeddings"] is True


def test_video_and_shot_embeddings_are_normalised_duration_weighted_means(runs):
    """Computed again in SQL from the clip rows: the clips' embeddings weighted by their durations, normalised."""
    out = runs["stream"]
    query = f"""
        WITH clips AS (
            SELECT video_uri, end_s - start_s AS seconds, unnest(embedding) AS value,
                   generate_subscripts(embedding, 1) AS i
            FROM '{out}/predictions-*.parquet'),
        mean AS (SELECT video_uri, i, sum(seconds * value) AS total FROM clips GROUP BY video_uri, i),
        norm AS (SELECT video_uri, sqrt(sum(total * total)) AS length FROM mean GROUP BY video_uri)
        SELECT list(total / length ORDER BY i) FROM mean JOIN norm USING (video_uri) GROUP BY video_uri"""
    [expected] = duckdb.sql(query).fetchall()[0]
    [video] = duckdb.sql(f"select embedding from '{out}/videos-*.parquet'").fetchall()[0]
    np.testing.assert_allclose(video, expected, atol=1e-6)
    # The video has no cut: one shot, whose clips are the video's.
    [shot] = duckdb.sql(f"select embedding from '{out}/shots-*.parquet'").fetchall()[0]
    np.testing.assert_allclose(shot, expected, atol=1e-6)


def test_without_the_flag_the_columns_are_null_and_incremental_will_not_mix(lite_model, runs, tmp_path):
    out = tmp_path / "plain"
    vidlabel("run", *IN_PROCESS, "--input", VIDEO, "--output", out, "--model", lite_model)
    for table in ("predictions", "videos", "shots"):
        [(nulls, rows)] = duckdb.sql(
            f"select count(*) filter (embedding is null), count(*) from '{out}/{table}-*.parquet'"
        ).fetchall()
        assert nulls == rows > 0
    assert json.loads((out / "run.json").read_text())["embeddings"] is None
    refused = vidlabel(
        "run", "--input", VIDEO, "--output", out, "--model", lite_model, "--embeddings", "--incremental", check=False
    )
    assert refused.returncode == 2 and "(embeddings differ)" in refused.stderr


HOSTILE = ("it's; DROP TABLE x; --.webm", b"caf\xe9 \xff.webm")  # a quote and a semicolon; bytes not UTF-8


def copy_of(source, target, size=None, bars=0):
    """`source` re-encoded as H.264 (another codec setting than the original's), scaled to `size` and/or with black
    bars of `bars` rows above and below."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        fps = stream.average_rate
        frames = [
            np.pad(
                f.to_ndarray(format="rgb24", **(dict(zip(("width", "height"), size)) if size else {})),
                ((bars, bars), (0, 0), (0, 0)),
            )
            for f in container.decode(stream)
        ]
    height, width = frames[0].shape[:2]
    synth.write_video(str(target), frames, fps, width, height)


@pytest.fixture(scope="module")
def archive(lite_model, tmp_path_factory):
    """A small archive labelled with --embeddings by the TFLite model: three shared videos, the short bear clip
    again under two hostile names (the same footage, so each is the others' nearest), and two copies of the arm
    wrestling video (half size; letterboxed)."""
    root = tmp_path_factory.mktemp("archive")
    videos = root / "videos"
    videos.mkdir()
    for name in ("k400_arm_wrestling_h264.mp4", "anet_clean_and_jerk_h264.mp4", "bear_vp9_161x121_odd.webm"):
        (videos / name).symlink_to(SHARED / "videos" / name)
    copy_of(VIDEO, videos / "arm wrestling half.mp4", size=(170, 128))  # the original is 340x256
    copy_of(VIDEO, videos / "arm wrestling letterboxed.mp4", bars=43)
    for name in HOSTILE:
        target = os.path.join(os.fsencode(videos) if isinstance(name, bytes) else str(videos), name)
        os.symlink(SHARED / "videos" / "bear_vp9_161x121_odd.webm", target)
    out = root / "out"
    vidlabel("run", *IN_PROCESS, "--input", videos, "--output", out, "--model", lite_model, "--embeddings")
    return videos, out


def search(out, *flags, check=True):
    return vidlabel("search", out, *flags, check=check)


def test_search_like_a_stored_clip_finds_the_same_footage_under_hostile_names(archive, tmp_path):
    videos, out = archive
    bear = videos / "bear_vp9_161x121_odd.webm"
    found = tmp_path / "found.parquet"
    result = search(out, "--like", bear, "--at", "0.5", "--top", "3", "--out", found)
    assert "clip(s) nearest" in result.stdout
    rows = duckdb.sql(f"select video_uri, similarity from '{found}' order by similarity desc").fetchall()
    not_utf8 = "file://" + urllib.parse.quote(os.fsencode(videos) + b"/" + HOSTILE[1])  # as `storage.to_uri` says
    assert {uri for uri, _ in rows[:2]} == {str(videos / HOSTILE[0]), not_utf8}
    assert all(similarity == pytest.approx(1.0, abs=1e-5) for _, similarity in rows[:2])  # the same frames
    assert str(bear) not in [uri for uri, _ in rows]  # the query's own video is left out
    # The hostile names are queries like any other: the non-UTF-8 one by its path as the file system has it.
    for name in HOSTILE:
        path = os.path.join(os.fsencode(videos), name) if isinstance(name, bytes) else str(videos / name)
        again = search(out, "--like", os.fsdecode(path), "--at", "0", "--top", "1", "--same_video")
        assert "1 clip(s) nearest" in again.stdout


def test_search_like_a_new_file_embeds_it_with_the_runs_model(archive, tmp_path):
    videos, out = archive
    found = tmp_path / "found.parquet"
    search(out, "--like_file", SHARED / "videos" / "bear_vp9_161x121_odd.webm", "--top", "5", "--out", found)
    rows = duckdb.sql(f"select video_uri, similarity from '{found}' order by similarity desc").fetchall()
    # Its one clip is the stored bear clips' frames: similarity 1 with each of the three copies.
    assert [round(s, 4) for _, s in rows[:3]] == [1.0, 1.0, 1.0]
    assert rows[3][1] < 0.9999


def test_search_refuses_bad_flags_and_results_without_embeddings(archive, lite_model, tmp_path):
    videos, out = archive
    refused = search(out, "--like", videos / "bear_vp9_161x121_odd.webm", check=False)
    assert refused.returncode == 2 and "--like needs --at SECONDS" in refused.stderr
    refused = search(out, "--like", videos / "nope.mp4", "--at", "1", check=False)
    assert refused.returncode == 2 and "the result has no clip of" in refused.stderr
    refused = search(out, "--like", videos / "bear_vp9_161x121_odd.webm", "--at", "99", check=False)
    assert refused.returncode == 2 and "--at 99: the clips of" in refused.stderr
    plain = tmp_path / "plain"
    vidlabel(
        "run", *IN_PROCESS, "--input", videos / "bear_vp9_161x121_odd.webm", "--output", plain, "--model", lite_model
    )
    refused = search(plain, "--like_file", videos / "bear_vp9_161x121_odd.webm", check=False)
    assert refused.returncode == 2 and "has no embeddings: label it with" in refused.stderr


def test_duplicates_groups_copies_and_leaves_distinct_videos_apart(archive, tmp_path):
    """The test model has random weights, which make every clip alike (all pairs here score above 0.9: what such a
    network sees is mostly colour and brightness), so only a near-exact threshold sets distinct videos apart; how
    trained models and other thresholds do on copies is measured in bench/duplicates.py."""
    videos, out = archive
    found = tmp_path / "groups.parquet"
    result = search(out, "--duplicates", "--threshold", "0.9999", "--out", found)
    assert "2 group(s) of the same footage among 7 video(s) (clips alike from similarity 0.9999)" in result.stdout
    groups = duckdb.sql(f"select \"group\", video_uri, twinned_clips, clips from '{found}' order by all").fetchall()
    members = {}
    for group, uri, twinned, clips in groups:
        members.setdefault(group, set()).add(os.fsencode(urllib.parse.unquote_to_bytes(uri.removeprefix("file://"))))
        assert twinned == clips  # whole copies: every clip has its twin
    bear = {os.fsencode(videos / "bear_vp9_161x121_odd.webm")} | {
        os.path.join(os.fsencode(videos), os.fsencode(name) if isinstance(name, str) else name) for name in HOSTILE
    }
    arm = {os.fsencode(videos / name) for name in ("k400_arm_wrestling_h264.mp4", "arm wrestling half.mp4")}
    assert members == {1: bear, 2: arm}  # the larger group first
    # At the default threshold this network's clips of distinct videos pass for twins (similarity 0.998 here).
    loose = tmp_path / "loose.parquet"
    search(out, "--duplicates", "--out", loose)
    [(together,)] = duckdb.sql(
        f"""select count(distinct "group") from '{loose}'
            where video_uri like '%anet_clean_and_jerk_h264.mp4' or video_uri like '%bear_vp9_161x121_odd.webm'"""
    ).fetchall()
    assert together == 1
    refused = search(out, "--duplicates", "--top", "3", check=False)
    assert refused.returncode == 2 and "--top goes with --like" in refused.stderr
    refused = search(out, "--duplicates", "--threshold", "1.5", check=False)
    assert refused.returncode == 2 and "give a cosine similarity in (0, 1]" in refused.stderr


def write_examples(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write("uri,start_s,label\n" + "".join(f'"{uri}",{at},{label}\n' for uri, at, label in rows))
    return path


def test_a_head_trained_on_a_few_clips_labels_every_clip_of_the_archive(archive, tmp_path):
    """Two labels learnt from the originals' clips; the copies (never shown) get their original's label."""
    videos, out = archive
    arm, lifting = VIDEO, SHARED / "videos" / "anet_clean_and_jerk_h264.mp4"
    examples = write_examples(
        tmp_path / "examples.csv",
        [(videos / arm.name, at, "arm wrestling") for at in (1, 5, 9)]
        + [(videos / lifting.name, at, "weightlifting") for at in (1, 5, 9, 13, 17)],
    )
    head = tmp_path / "head.json"
    trained = vidlabel("train-head", out, "--examples", examples, "--out", head)
    assert "8 examples of 2 classes (arm wrestling 3, weightlifting 5)" in trained.stdout
    assert "folds by example" in trained.stdout  # one video per label: cross-validation can only leave out clips
    assert "arm wrestling: fewer than 5 examples" in trained.stdout
    stored = json.loads(head.read_text())
    assert stored["classes"] == ["arm wrestling", "weightlifting"] and len(stored["weights"][0]) == A0_DIM
    labels = tmp_path / "labels"
    applied = vidlabel("apply-head", out, head, "--out", labels)
    assert "clips ->" in applied.stdout
    rows = duckdb.sql(
        f"""select c.video_uri, c.label, c.score, len(c.scores), p.clips
            from '{labels}/custom_labels-*.parquet' c
            join (select video_uri, count(*) clips from '{out}/predictions-*.parquet'
                  where embedding is not null group by all) p using (video_uri)"""
    ).fetchall()
    assert (
        sum(1 for row in rows)
        == duckdb.sql(f"select count(*) from '{out}/predictions-*.parquet' where embedding is not null").fetchall()[0][
            0
        ]
    )
    by_video = {}
    for uri, label, score, classes, _ in rows:
        assert classes == 2 and 0.5 <= score <= 1
        by_video.setdefault(pathlib.Path(uri).name, set()).add(label)
    for name in ("k400_arm_wrestling_h264.mp4", "arm wrestling half.mp4", "arm wrestling letterboxed.mp4"):
        assert by_video[name] == {"arm wrestling"}
    assert by_video[lifting.name] == {"weightlifting"}
    # The published result is untouched: the labels live in their own folder.
    assert not list(out.glob("custom_labels-*"))


def test_train_and_apply_head_refuse_what_they_cannot_use(archive, runs, tmp_path):
    videos, out = archive
    bad = write_examples(tmp_path / "one.csv", [(videos / "bear_vp9_161x121_odd.webm", 0.5, "bear")] * 3)
    refused = vidlabel("train-head", out, "--examples", bad, "--out", tmp_path / "h.json", check=False)
    assert refused.returncode == 2 and "at least 2 labels" in refused.stderr
    bad = write_examples(
        tmp_path / "missing.csv",
        [(videos / "bear_vp9_161x121_odd.webm", 0.5, "a"), (videos / "bear_vp9_161x121_odd.webm", 0.5, "a")]
        + [(videos / "nope.mp4", 1, "b"), (VIDEO, 1, "b")],
    )
    refused = vidlabel("train-head", out, "--examples", bad, "--out", tmp_path / "h.json", check=False)
    assert refused.returncode == 2 and "line 4: the result has no clip of" in refused.stderr
    (tmp_path / "words.csv").write_text("uri,start_s,label\nx.mp4,soon,a\n")
    refused = vidlabel(
        "train-head", out, "--examples", tmp_path / "words.csv", "--out", tmp_path / "h.json", check=False
    )
    assert refused.returncode == 2 and "start_s 'soon' is not a number" in refused.stderr
    # A head is bound to the model whose embeddings it learnt from.
    examples = write_examples(
        tmp_path / "ok.csv",
        [(videos / VIDEO.name, at, label) for at, label in ((1, "a"), (3, "a"), (5, "b"), (9, "b"))],
    )
    head = tmp_path / "head.json"
    vidlabel("train-head", out, "--examples", examples, "--out", head)
    other = runs["base"]  # the same video, labelled by another model (the base form)
    refused = vidlabel("apply-head", other, head, "--out", tmp_path / "labels", check=False)
    assert refused.returncode == 2 and "another model's features mean something else" in refused.stderr
    assert not (tmp_path / "labels").exists()
    (tmp_path / "not-a-head.json").write_text("{}")
    refused = vidlabel("apply-head", out, tmp_path / "not-a-head.json", "--out", tmp_path / "l2", check=False)
    assert refused.returncode == 2 and "not a head from `vidlabel train-head`" in refused.stderr
