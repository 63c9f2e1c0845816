"""Streaming and TFLite MoViNet in the pipeline: parity with the whole-clip call, TFLite with the stream
SavedModel through the whole pipeline, the cumulative mode, and memory that does not grow with video length."""

import fractions
import subprocess
import sys

import av
import duckdb
import numpy as np
import pytest

from vidlabel import movinet
from vidlabel.movinet.classifiers import softmax
from vidlabel.transforms.clips import model_input
from vidlabel.transforms.decode import DecodeClips
from vidlabel.transforms.inference import MovinetHandler
from vidlabel.transforms.types import ClipSpec, VideoFile

from conftest import IN_PROCESS, SMALL, VIDEOS, rss_wrapper, vidlabel

SPEC = ClipSpec(
    fps=SMALL["fps"], resolution=SMALL["resolution"], clip_frames=SMALL["frames"], stride_frames=SMALL["frames"]
)
SOME_VIDEOS = [
    "k400_arm_wrestling_h264.mp4",
    "anet_clean_and_jerk_h264.mp4",
    "swimming_person.gif",
    "mug_rotate270_h264.mp4",
    "zero_bytes.webm",
]


def clips_of(name):
    fn = DecodeClips(SPEC)
    fn.setup()
    try:
        return [o for o in fn.process(VideoFile(str(VIDEOS / name), None, None)) if isinstance(o, tuple)]
    finally:
        fn.teardown()


def test_the_three_forms_are_recognised(small_model, stream_model):
    assert movinet.read_signature(str(small_model)).kind == "base"
    stream = movinet.read_signature(str(stream_model))
    assert stream.kind == "stream" and stream.output_key == "logits" and stream.num_classes == 600
    assert stream.embedding_dim == 480  # the head pool's state: A0's pooled features
    lite = movinet.read_signature(str(stream_model / "model.tflite"))
    assert lite == ("tflite", (1, 1, 32, 32, 3), "logits", 600, 480)


def test_stream_frame_by_frame_equals_the_whole_clip_at_once(stream_model):
    """(a) The handler feeds `call` one frame at a time; Model Garden's `call` also takes a whole clip at once."""
    import tensorflow as tf

    signature = movinet.read_signature(str(stream_model))
    handler = MovinetHandler(str(stream_model), signature, max_batch_size=4, model_name="s")
    model = handler.load_model()
    clips = clips_of("k400_arm_wrestling_h264.mp4")  # 5 clips: 4 of 8 frames, a tail of 4 -> two shapes
    results = handler.run_inference(clips, model)
    loaded = tf.saved_model.load(str(stream_model))
    for (key, frames), result in zip(clips, results):
        init = loaded.signatures["init_states"](tf.constant([1, *frames.shape], dtype=tf.int32))
        whole = loaded.signatures["call"](**init, image=tf.constant(model_input(frames[None])))["logits"].numpy()
        np.testing.assert_allclose(result.inference.probabilities, softmax(whole)[0], atol=1e-4)
        assert result.example == key


@pytest.fixture(scope="module")
def stream_and_tflite_runs(stream_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("stream-runs")
    inputs = [arg for name in SOME_VIDEOS for arg in ("--input", VIDEOS / name)]
    outs = {}
    for kind, model in [("stream", stream_model), ("tflite", stream_model / "model.tflite")]:
        outs[kind] = root / kind
        vidlabel("run", *IN_PROCESS, *inputs, "--output", outs[kind], "--model", model, "--all_scores")
    outs["tflite_video"] = root / "tflite_video"
    vidlabel(
        "run",
        *IN_PROCESS,
        *inputs,
        "--output",
        outs["tflite_video"],
        "--model",
        stream_model / "model.tflite",
        "--all_scores",
        "--stream_states",
        "video",
    )
    return outs


def table(out, name, columns, where="true"):
    return duckdb.sql(f"select {columns} from '{out}/{name}-*.parquet' where {where} order by all").fetchall()


def test_tflite_equals_stream_savedmodel_through_the_pipeline(stream_and_tflite_runs):
    """(b) Same weights, two runtimes, the whole pipeline: clip and video probabilities within 1e-4, same top-1."""
    stream, lite = stream_and_tflite_runs["stream"], stream_and_tflite_runs["tflite"]
    a = table(stream, "predictions", "video_uri, clip_index, scores, top_k[1].label")
    b = table(lite, "predictions", "video_uri, clip_index, scores, top_k[1].label")
    assert [r[:2] for r in a] == [r[:2] for r in b] and len(a) >= 10
    assert max(np.abs(np.array(x[2]) - np.array(y[2])).max() for x, y in zip(a, b)) <= 1e-4
    assert [r[3] for r in a] == [r[3] for r in b]
    va = table(stream, "videos", "video_uri, status, top_k")
    vb = table(lite, "videos", "video_uri, status, top_k")
    assert [r[:2] for r in va] == [r[:2] for r in vb]
    for x, y in zip(va, vb):
        if x[1] == "ok":
            assert [e["label"] for e in x[2]][:1] == [e["label"] for e in y[2]][:1]
            np.testing.assert_allclose([e["score"] for e in x[2]], [e["score"] for e in y[2]], atol=1e-4)


def test_cumulative_mode_carries_states_through_the_video(stream_and_tflite_runs, stream_model):
    """--stream_states video: clip i reports the prediction after all frames up to its end, which is the stream
    model called once on the whole prefix of the video from its initial states."""
    import tensorflow as tf

    out = stream_and_tflite_runs["tflite_video"]
    name = "k400_arm_wrestling_h264.mp4"
    of_video = f"video_uri like '%{name}'"
    rows = table(out, "predictions", "clip_index, scores", of_video)
    clips = clips_of(name)
    loaded = tf.saved_model.load(str(stream_model))
    frames = model_input(np.concatenate([f for _, f in clips]))
    per_clip = table(stream_and_tflite_runs["tflite"], "predictions", "clip_index, scores", of_video)
    assert [index for index, _ in rows] == [key.clip_index for key, _ in clips]
    for index, scores in rows:
        end = sum(len(f) for _, f in clips[: index + 1])
        init = loaded.signatures["init_states"](tf.constant([1, end, 32, 32, 3], dtype=tf.int32))
        prefix = loaded.signatures["call"](**init, image=tf.constant(frames[None, :end]))["logits"].numpy()
        np.testing.assert_allclose(scores, softmax(prefix)[0], atol=1e-4)
    np.testing.assert_allclose(rows[0][1], per_clip[0][1], atol=1e-6)  # the first clip starts fresh either way
    assert np.abs(np.array(rows[-1][1]) - np.array(per_clip[-1][1])).max() > 1e-4  # later ones remember


def test_cumulative_mode_refuses_base_models(small_model, tmp_path):
    result = vidlabel(
        "run",
        "--input",
        VIDEOS / "swimming_person.gif",
        "--output",
        tmp_path / "o",
        "--model",
        small_model,
        "--stream_states",
        "video",
        check=False,
    )
    assert result.returncode == 2 and "needs a stream or TFLite model" in result.stderr


def test_memory_is_flat_in_video_length(stream_model, tmp_path):
    """Peak RSS of a run over the 10-minute video is within 10% of one over its first minute."""
    one_minute = tmp_path / "one_minute.mkv"  # the first minute of it, rendered as H.264 at 1 fps
    with av.open(str(VIDEOS / "countdown_10min_1fps.mkv")) as src, av.open(str(one_minute), "w") as dst:
        out_stream = dst.add_stream("libx264", rate=1)
        out_stream.width, out_stream.height, out_stream.pix_fmt = 384, 288, "yuv420p"
        for i, frame in zip(range(60), src.decode(video=0)):
            frame.pts, frame.time_base = i, fractions.Fraction(1, 1)
            for packet in out_stream.encode(frame):
                dst.mux(packet)
        for packet in out_stream.encode(None):
            dst.mux(packet)
    script = rss_wrapper(tmp_path)
    peaks = {}
    for label, video in [("1min", one_minute), ("10min", VIDEOS / "countdown_10min_1fps.mkv")]:
        result = subprocess.run(
            [
                sys.executable,
                str(script),
                "run",
                "--input",
                str(video),
                "--output",
                str(tmp_path / label),
                "--model",
                str(stream_model / "model.tflite"),
                "--fps",
                "5",
                "--resolution",
                "32",
                "--direct_running_mode",
                "in_memory",
                "--direct_num_workers",
                "1",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[label] = int(result.stdout.strip().split()[-1])
        assert f"{'60.0' if label == '1min' else '600.0'} s of video" in result.stderr, result.stderr[-2000:]
    assert peaks["10min"] <= 1.10 * peaks["1min"], peaks


@pytest.mark.parametrize("suffix", ["gif", "mp4"])
def test_plot_animation_has_one_frame_per_model_frame(stream_model, tmp_path, suffix):
    out = tmp_path / f"plot.{suffix}"
    vidlabel("plot", VIDEOS / "swimming_person.gif", "--model", stream_model / "model.tflite", "--out", out)
    with av.open(str(out)) as container:
        frames = [f for f in container.decode(video=0)]
        duration = container.duration / 1e6
    assert len(frames) == 5  # 2.19 s at 2 fps: ticks at 0, 0.5, 1, 1.5, 2
    assert duration == pytest.approx(2.5, abs=0.05)
    assert frames[0].width > frames[0].height  # video panel beside the bar chart


def test_plot_timeline_png_and_base_models(small_model, tmp_path):
    out = tmp_path / "timeline.png"
    vidlabel("plot", VIDEOS / "k400_arm_wrestling_h264.mp4", "--model", small_model, "--out", out)
    with av.open(str(out)) as container:
        image = next(container.decode(video=0))
    assert (image.width, image.height) == (1100, 350)  # the legend sits beside the plot


def test_plot_memory_is_bounded_on_a_ten_minute_video(stream_model, tmp_path):
    """Drawing 600 frames of the 10-minute video peaks within 10% of drawing 60 of them."""
    script = rss_wrapper(tmp_path)
    peaks = {}
    for fps in ("0.1", "1"):
        result = subprocess.run(
            [
                sys.executable,
                str(script),
                "plot",
                str(VIDEOS / "countdown_10min_1fps.mkv"),
                "--model",
                str(stream_model / "model.tflite"),
                "--fps",
                fps,
                "--out",
                str(tmp_path / f"p{fps}.mp4"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[fps] = int(result.stdout.strip().split()[-1])
    with av.open(str(tmp_path / "p1.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 600
    assert peaks["1"] <= 1.10 * peaks["0.1"], peaks
