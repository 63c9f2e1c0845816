"""What happens where: shots found in the decoding pass, clips that respect them (--windows shots), label segments
and per-second labels, checked on real runs of rendered videos whose cuts are known, read back with DuckDB."""

import io

import duckdb
import numpy as np
import pytest

from vidlabel.movinet.classifiers import StreamClassifier, softmax
from vidlabel.movinet.signature import read_signature
from vidlabel.transforms.clips import model_input
from vidlabel.transforms.decode import DecodeClips
from vidlabel.transforms.types import ClipSpec, VideoFile

from conftest import IN_PROCESS, KINETICS_LABELS, SMALL, vidlabel

FPS = 25
# Three shots: 3 s, a 0.48-s shot (shorter than 1 s: it joins the next shot's first clip), 3.52 s. 7 s in all.
CUTS = (75, 87)  # source frames that start a shot
NUM_FRAMES = 175


def rendered_frame(i: int) -> np.ndarray:
    """Frame i of `render_shots`, uint8 RGB [96, 128, 3]: each shot is a different coarse random pattern that keeps
    moving (a pan), so frames always differ, a little within a shot and wholly at a cut."""
    rng = np.random.default_rng(3)
    blocks = [rng.integers(0, 256, (6, 16, 3), dtype=np.uint8) for _ in range(len(CUTS) + 1)]
    shot = sum(i >= c for c in CUTS)
    texture = np.kron(blocks[shot], np.ones((16, 16, 1), dtype=np.uint8))  # 96 x 256
    return np.ascontiguousarray(np.roll(texture, 2 * i, axis=1)[:, :128])


def render_shots(path):
    """A real H.264 file of `rendered_frame`s."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(NUM_FRAMES):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rendered_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def shots_run(stream_model, tmp_path_factory):
    """The same video labelled with --windows shots and with fixed windows; a low --min_score, since a model with
    random weights spreads its probability over the 600 classes."""
    root = tmp_path_factory.mktemp("shots")
    (root / "videos").mkdir()
    video = render_shots(root / "videos" / "three_shots.mp4")
    flags = ("--model", stream_model, "--all_scores", "--frame_labels", "--clip_seconds", "4.5", "--min_score", "0.002")
    outs = {}
    for windows in ("shots", "fixed"):
        outs[windows] = root / windows
        vidlabel("run", *IN_PROCESS, "--input", video, "--output", outs[windows], "--windows", windows, *flags)
    return video, outs


def table(out, name, columns="*", order="1"):
    return duckdb.sql(f"select {columns} from '{out}/{name}-*.parquet' order by {order}").fetchall()


def test_shots_are_found_at_the_rendered_cuts_in_both_window_modes(shots_run):
    _, outs = shots_run
    for out in outs.values():
        shots = table(out, "shots", "shot_index, start_frame, end_frame, start_s, end_s")
        assert [s[1] for s in shots] == [0, *CUTS]
        assert [s[2] for s in shots] == [c - 1 for c in CUTS] + [NUM_FRAMES - 1]
        assert [s[3] for s in shots] == pytest.approx([0.0, *(c / FPS for c in CUTS)], abs=1e-3)
        assert shots[-1][4] == pytest.approx(NUM_FRAMES / FPS, abs=1e-3)


def test_thumbnails_are_taken_half_a_second_into_each_shot_and_show_that_frame(shots_run):
    """The first shot's thumbnail is its frame 13 (0.52 s, the first at or after 0.5 s). A later shot's is taken
    when the detector has decided its cut, 20 frames (0.8 s) on: the 0.48-s shot has ended by then, so the frame
    taken (95, 3.8 s) shows the third shot, whose own would come under 1 s later and is skipped. Each JPEG is
    exactly that frame as rendered, up to compression (the frame 40 on differs)."""
    from PIL import Image

    _, outs = shots_run
    thumbs = table(outs["shots"], "thumbnails", "time_s, width, height, jpeg", "time_s")
    assert [t[0] for t in thumbs] == pytest.approx([13 / FPS, 95 / FPS])
    for (_, width, height, jpeg), index in zip(thumbs, (13, 95)):
        picture = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), np.float32)
        assert picture.shape == (height, width, 3) == (96, 128, 3)
        assert np.abs(picture - rendered_frame(index)).mean() < 12  # a shot's pattern, not another's (~85 apart)
        assert np.abs(picture - rendered_frame(index + 40)).mean() > 40


def test_shot_windows_end_clips_at_cuts_and_keep_a_too_short_shot_with_the_next(shots_run):
    _, outs = shots_run
    # 2 fps: the cut at 3.0 s ends clip 0 after 6 ticks; the 0.48-s shot (one tick) stays with the next clip.
    assert table(outs["shots"], "predictions", "start_s, end_s") == [(0.0, 3.0), (3.0, 7.0)]
    assert table(outs["fixed"], "predictions", "start_s, end_s") == [(0.0, 4.5), (4.5, 7.0)]


def test_shot_top_k_is_the_overlap_weighted_clip_average(shots_run):
    _, outs = shots_run
    labels = KINETICS_LABELS.read_text().splitlines()
    for windows, out in outs.items():
        clips = table(out, "predictions", "start_s, end_s, scores")
        for index, start, end, top_k in table(out, "shots", "shot_index, start_s, end_s, top_k"):
            # The seconds of each clip that show the shot, in model ticks (2 fps): the frame shown at tick k is the
            # one that started at or before k / 2 s.
            weights = np.array([_shown_seconds(c[0], c[1], start, end) for c in clips])
            if windows == "shots" and index == 1:
                assert weights.tolist() == [0.0, 0.5]  # tick 6 (3.0 s) shows shot 1, inside clip 1
            average = (weights[:, None] * np.array([c[2] for c in clips])).sum(0) / weights.sum()
            best = np.argsort(-average, kind="stable")[:5]
            assert [e["label"] for e in top_k] == [labels[i] for i in best], (windows, index)
            np.testing.assert_allclose([e["score"] for e in top_k], average[best], atol=1e-6)


def _shown_seconds(clip_start, clip_end, shot_start, shot_end):
    ticks = np.arange(round(clip_start * SMALL["fps"]), round(clip_end * SMALL["fps"])) / SMALL["fps"]
    return float(((ticks >= shot_start - 1e-6) & (ticks < shot_end - 1e-6)).sum()) / SMALL["fps"]


SEGMENTS_FROM_PREDICTIONS = """
with scores as (
    select video_uri, clip_index, start_s, end_s, unnest(scores) as score, generate_subscripts(scores, 1) as label
    from '{out}/predictions-*.parquet'
), islands as (
    select *, clip_index - row_number() over (partition by video_uri, label order by clip_index) as island
    from scores where score >= {min_score}
)
select video_uri, label, min(start_s), max(end_s),
       sum(score * (end_s - start_s)) / sum(end_s - start_s), count(*)
from islands group by video_uri, label, island order by 3, 2
"""


def test_segments_are_the_runs_of_clips_at_or_above_min_score_from_the_full_probabilities(shots_run):
    """An independent oracle in SQL (gaps and islands over every class probability of every clip)."""
    _, outs = shots_run
    labels = KINETICS_LABELS.read_text().splitlines()
    for out in outs.values():
        expected = duckdb.sql(SEGMENTS_FROM_PREDICTIONS.format(out=out, min_score=0.002)).fetchall()
        segments = table(out, "segments", "video_uri, label, start_s, end_s, confidence, num_clips", "3, 2")
        assert len(segments) == len(expected) > 0
        expected = sorted(expected, key=lambda r: (r[2], labels[r[1] - 1]))
        for got, want in zip(segments, expected):
            assert got[1] == labels[want[1] - 1] and got[2:4] == want[2:4] and got[5] == want[5]
            assert got[4] == pytest.approx(want[4], abs=1e-6)
        # a label outside every clip's top 5 still has segments
        top = {e["label"] for (k,) in table(out, "predictions", "top_k") for e in k}
        assert {s[1] for s in segments} - top


def test_frame_labels_are_the_stream_model_at_each_whole_second(shots_run, stream_model):
    video, outs = shots_run
    rows = table(outs["shots"], "frame_labels", "time_s, top_k")
    assert [t for t, _ in rows] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    # Fidelity: the clips as --windows shots cuts them, through the stream model frame by frame.
    spec = ClipSpec(SMALL["fps"], SMALL["resolution"], clip_frames=9, stride_frames=9, windows="shots")
    decoder = DecodeClips(spec)
    decoder.setup()
    clips = [o for o in decoder.process(VideoFile(str(video), None, None)) if isinstance(o, tuple)]
    decoder.teardown()
    model = StreamClassifier(str(stream_model), read_signature(str(stream_model)).output_key)
    labels = KINETICS_LABELS.read_text().splitlines()
    direct = {}
    for key, frames in clips:
        offsets = [offset for offset, _ in key.second_marks]
        at_marks = model.predict(model_input(frames[None]), offsets).at_frames
        for (_, time_s), logits in zip(key.second_marks, at_marks):
            direct[time_s] = softmax(logits)[0]
    for time_s, top_k in rows:
        best = np.argsort(-direct[time_s], kind="stable")[:5]
        assert [e["label"] for e in top_k] == [labels[i] for i in best]
        np.testing.assert_allclose([e["score"] for e in top_k], direct[time_s][best], atol=1e-5)


def test_frame_labels_need_a_stream_model_and_incremental_compares_the_window_mode(
    small_model, stream_model, shots_run, tmp_path
):
    video, outs = shots_run
    refused = vidlabel(
        "run", "--input", video, "--output", tmp_path / "o", "--model", small_model, "--frame_labels", check=False
    )
    assert refused.returncode == 2 and "--frame_labels needs a stream or TFLite model" in refused.stderr
    same_but_shots = ("--model", stream_model, "--frame_labels", "--clip_seconds", "4.5", "--min_score", "0.002")
    refused = vidlabel(
        "run",
        "--input",
        video,
        "--output",
        outs["fixed"],
        *same_but_shots,
        "--windows",
        "shots",
        "--incremental",
        check=False,
    )
    assert refused.returncode == 2 and "(windows differ)" in refused.stderr


def test_the_video_intelligence_export_of_a_real_run_reads_back_with_the_official_types(shots_run, tmp_path):
    from unit.test_export_annotations import check_export

    _, outs = shots_run
    vidlabel("export-annotations", outs["shots"], "--format", "video-intelligence", "--out", tmp_path / "vi")
    [response] = check_export(str(outs["shots"]), str(tmp_path / "vi")).values()
    [results] = response.annotation_results
    assert len(results.shot_annotations) == len(CUTS) + 1
    assert results.frame_label_annotations and results.segment_label_annotations and results.shot_label_annotations
