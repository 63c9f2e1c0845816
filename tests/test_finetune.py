"""Fine-tuning, synthetic videos and the proof that labels are right, all through the real commands.

Models are trained here by `vidlabel finetune` on videos rendered by `vidlabel synth` (real H.264 files), then
held-out videos are labelled by `vidlabel run` and the labels read back from Parquet with DuckDB. The fidelity tests
are built so that a real preprocessing bug changes the label:
- frames played backwards must get the opposite direction (a pipeline that shuffled or reversed time would not);
- red vs blue objects with the same motion must be told apart (swapped colour channels turn red into blue);
- a copy stored turned by 90 degrees with rotation metadata must keep its label (a move_left video decoded without
  the rotation would move up or down).
"""

import json
import shutil
import subprocess

import av
import duckdb
import numpy as np
import pytest

from vidlabel.pipeline.commands import synth

from conftest import IN_PROCESS, vidlabel

DIRECTIONS = ("move_down", "move_left", "move_right", "move_up")
# Small enough for two CPU cores: 32 px, 8 fps, clips of 8 frames (1 s).
TRAIN_FLAGS = ("--resolution", "32", "--fps", "8", "--clip_seconds", "1")


def labels_by_video(tables) -> dict:
    rows = duckdb.sql(
        f"SELECT video_uri, top_k[1].label FROM read_parquet('{tables}/videos-*.parquet') WHERE status = 'ok'"
    ).fetchall()
    return dict(rows)


def true_label(uri: str) -> str:
    return uri.rsplit("/", 2)[-2]


@pytest.fixture(scope="module")
def direction_model(tmp_path_factory):
    """A0 (causal (2+1)D, random start) fine-tuned on four motion directions; held-out videos from another seed."""
    root = tmp_path_factory.mktemp("directions")
    classes = ",".join(DIRECTIONS)
    vidlabel("synth", "--out", root / "train", "--classes", classes, "--videos_per_class", 100, "--seed", 1)
    vidlabel("synth", "--out", root / "heldout", "--classes", classes, "--videos_per_class", 10, "--seed", 2)
    result = vidlabel(
        "finetune", "--data", root / "train", "--out", root / "model", *TRAIN_FLAGS, "--epochs", 14, "--seed", 4
    )
    print(result.stdout[-3000:])
    return root


@pytest.fixture(scope="module")
def heldout_tables(direction_model):
    out = direction_model / "tables"
    vidlabel(
        "run",
        *IN_PROCESS,
        "--model",
        direction_model / "model",
        "--input",
        direction_model / "heldout",
        "--output",
        out,
    )
    return out


def test_held_out_accuracy_through_the_pipeline(direction_model, heldout_tables):
    labels = labels_by_video(heldout_tables)
    assert len(labels) == 10 * len(DIRECTIONS)
    correct = sum(label == true_label(uri) for uri, label in labels.items())
    record = json.loads((direction_model / "model" / "training.json").read_text())
    print(f"held-out accuracy {correct}/{len(labels)}; training took {record['train_seconds']:.0f} s")
    # Training is seeded with deterministic kernels, yet runs can part slightly on CPU: this seed gave 40/40 here, and
    # seeds 3-7 of the same recipe 38-40/40; the bar sits two videos below the worst of them, far above chance (10/40).
    assert correct / len(labels) >= 0.9


def test_model_folder_runs_with_no_other_flag_and_records_its_training(direction_model):
    model = direction_model / "model"
    metadata = json.loads((model / "vidlabel.json").read_text())
    assert metadata["mode"] == "base" and metadata["architecture"] == "stream"
    assert (metadata["fps"], metadata["resolution"], metadata["clip_frames"]) == (8, 32, 8)
    assert (model / "labels.txt").read_text().split() == sorted(DIRECTIONS)
    record = json.loads((model / "training.json").read_text())
    assert record["classes"] == sorted(DIRECTIONS)
    assert record["train_videos"] == 4 * 80 and record["validation_videos"] == 4 * 20
    epochs = [row["epoch"] for row in record["history"]]
    assert epochs == list(range(1, len(epochs) + 1))
    best = max(record["history"], key=lambda row: row["val_accuracy"])
    assert record["best_epoch"] == best["epoch"]
    # Every one of the 14 epochs: from random weights --patience defaults to 20 epochs without a better one.
    assert record["config"]["patience"] == 20 and len(epochs) == 14
    # The kept epoch scored again per class: a learnable set, so no warning, here or in vidlabel.json.
    report = record["validation"]
    assert report["clips"] == record["validation_clips"] == sum(row["clips"] for row in report["per_class"].values())
    matrix = np.array(report["confusion_matrix"]["rows_true_columns_predicted"])
    assert matrix.sum() == report["clips"] and np.trace(matrix) == sum(
        r["correct"] for r in report["per_class"].values()
    )
    assert report["accuracy"] == pytest.approx(best["val_accuracy"], abs=0.02) and report["chance"] == pytest.approx(
        0.25, abs=0.05
    )
    assert record["warnings"] == [] and metadata["training_warnings"] == []


def reencode(source, target, transform, rotate=None):
    """Writes `source`'s frames, passed through `transform(list of RGB arrays)`, as H.264; optionally tags the
    stream with rotation metadata (FFmpeg's `rotate`, stored as the display matrix)."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        fps = stream.average_rate
        frames = transform([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    height, width = frames[0].shape[:2]
    plain = target.with_suffix(".plain.mp4") if rotate else target
    synth.write_video(str(plain), frames, fps, width, height)
    if rotate:
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                str(plain),
                "-c",
                "copy",
                "-metadata:s:v:0",
                f"rotate={rotate}",
                str(target),
            ],
            check=True,
        )
        plain.unlink()


def test_reversed_videos_get_the_opposite_direction(direction_model, heldout_tables, tmp_path):
    upright = labels_by_video(heldout_tables)
    for uri in upright:
        label = true_label(uri)
        target = tmp_path / "reversed" / synth.REVERSED[label] / uri.rsplit("/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        reencode(uri, target, lambda frames: frames[::-1])
    out = tmp_path / "tables"
    vidlabel(
        "run", *IN_PROCESS, "--model", direction_model / "model", "--input", tmp_path / "reversed", "--output", out
    )
    labels = labels_by_video(out)
    correct = sum(label == true_label(uri) for uri, label in labels.items())
    assert len(labels) == len(upright) and correct / len(labels) >= 0.9


def ffmpeg_first_frame(path) -> np.ndarray:
    """The first frame as FFmpeg's command-line tool shows it (autorotated by the display matrix)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        width, height = (frame.height, frame.width) if frame.rotation % 180 else (frame.width, frame.height)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command (apt-get install ffmpeg)")
def test_rotated_copies_keep_their_labels(direction_model, heldout_tables, tmp_path):
    upright = labels_by_video(heldout_tables)
    copies = {}
    for uri in list(upright)[::2]:
        # Stored turned a quarter anticlockwise, tagged (FFmpeg's legacy `rotate`, written as the display matrix)
        # so that players show it upright again.
        target = tmp_path / "rotated" / true_label(uri) / uri.rsplit("/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        reencode(uri, target, lambda frames: [np.ascontiguousarray(np.rot90(f)) for f in frames], rotate=270)
        shown, original = ffmpeg_first_frame(target).astype(int), ffmpeg_first_frame(uri).astype(int)
        assert np.abs(shown - original).mean() < 4, "the copy must look upright in FFmpeg"
        copies[str(target)] = uri
    out = tmp_path / "tables"
    vidlabel("run", *IN_PROCESS, "--model", direction_model / "model", "--input", tmp_path / "rotated", "--output", out)
    facts = dict(duckdb.sql(f"SELECT video_uri, rotation FROM read_parquet('{out}/videos-*.parquet')").fetchall())
    assert set(facts.values()) == {270}
    labels = labels_by_video(out)
    same = sum(labels[copy] == upright[original] for copy, original in copies.items())
    # Decoded without the display matrix, every left/right copy would move up/down and vice versa (near 0 agreement).
    # The copies are a second lossy H.264 generation, so a borderline video may flip as any re-encode can.
    assert same >= 0.9 * len(copies), f"{same}/{len(copies)} copies kept their label"


@pytest.mark.slow
def test_colour_only_classes_are_told_apart(tmp_path):
    """Red vs blue objects, same random motions: a pipeline that fed BGR would swap the labels (accuracy near 0).
    Slow (a second training, ~4 min): the default suite holds channel order through test_decode's comparisons of
    the model frames with PyAV's and FFmpeg's own RGB frames."""
    vidlabel("synth", "--out", tmp_path / "train", "--classes", "red,blue", "--videos_per_class", 40, "--seed", 4)
    vidlabel("synth", "--out", tmp_path / "heldout", "--classes", "red,blue", "--videos_per_class", 6, "--seed", 5)
    vidlabel(
        "finetune",
        "--data",
        tmp_path / "train",
        "--out",
        tmp_path / "model",
        *TRAIN_FLAGS,
        "--epochs",
        8,
        "--batch_size",
        4,
    )
    vidlabel(
        "run",
        *IN_PROCESS,
        "--model",
        tmp_path / "model",
        "--input",
        tmp_path / "heldout",
        "--output",
        tmp_path / "tables",
    )
    labels = labels_by_video(tmp_path / "tables")
    assert len(labels) == 12
    correct = sum(label == true_label(uri) for uri, label in labels.items())
    assert correct >= 10, labels


def test_csv_manifest_and_bad_data_are_clear(tmp_path):
    vidlabel("synth", "--out", tmp_path / "videos", "--classes", "red,blue", "--videos_per_class", 1, "--seed", 6)
    manifest = tmp_path / "train.csv"
    manifest.write_text("uri,label\nvideos/red/red-0000.mp4,red\n# a comment\n\nvideos/blue/blue-0000.mp4,blue\n")
    from vidlabel.movinet.finetune import list_labelled_videos

    videos = list_labelled_videos(str(manifest))
    assert [(v.uri.rsplit("/", 1)[-1], v.label) for v in videos] == [("red-0000.mp4", "red"), ("blue-0000.mp4", "blue")]
    assert list_labelled_videos(str(tmp_path / "videos")) == sorted(videos)

    one_class = vidlabel("finetune", "--data", tmp_path / "videos" / "red", "--out", tmp_path / "m", check=False)
    assert one_class.returncode == 2 and "need at least 2 classes" in one_class.stderr
    bad_init = vidlabel(
        "finetune",
        "--data",
        tmp_path / "videos",
        "--out",
        tmp_path / "m2",
        "--init",
        tmp_path / "nowhere",
        *TRAIN_FLAGS,
        check=False,
    )
    assert bad_init.returncode == 2 and "no such file or folder" in bad_init.stderr
    assert not (tmp_path / "m2").exists()


def test_init_from_a_savedmodel_keeps_its_backbone(stream_model):
    """--init with a MoViNet SavedModel (as published, 600 classes) restores its backbone, not random weights."""
    import tensorflow as tf

    from vidlabel.movinet.finetune import TrainingConfig, training_model

    config = TrainingConfig("a0", "stream", 2, 32, 8, epochs=1, batch_size=2, learning_rate=1e-3, seed=11)
    model = training_model(config, num_classes=3, init=str(stream_model))
    saved = tf.train.load_checkpoint(str(stream_model / "variables" / "variables"))
    tensors = [saved.get_tensor(k) for k in saved.get_variable_to_shape_map()]
    saved_values = {t.tobytes() for t in tensors if isinstance(t, np.ndarray)}
    # Every array of the backbone comes from the SavedModel (its 15 scalar block scales are 0 in this random-weight
    # model, so they prove nothing here: test_finetune_backbone.py restores trained ones).
    ours = [w.numpy() for w in model.backbone.weights if w.shape.rank]
    assert len(ours) > 300 and all(w.tobytes() in saved_values for w in ours)
    fresh = [w.numpy() for w in training_model(config, num_classes=3, init=None).backbone.weights if w.shape.rank]
    assert sum(a.tobytes() != b.tobytes() for a, b in zip(ours, fresh)) > 50  # the kernels (norms start at 0 or 1)


def test_init_from_a_model_garden_checkpoint(tmp_path):
    import tensorflow as tf

    from vidlabel.movinet.export import build_classifier
    from vidlabel.movinet.finetune import TrainingConfig, training_model

    published = build_classifier("a0", "stream", 600, seed=5, external_states=False)
    published.build([1, 1, 32, 32, 3])
    prefix = tf.train.Checkpoint(model=published).save(str(tmp_path / "ckpt"))
    config = TrainingConfig("a0", "stream", 2, 32, 8, epochs=1, batch_size=2, learning_rate=1e-3, seed=11)
    model = training_model(config, num_classes=3, init=str(tmp_path))  # the folder: its latest checkpoint
    for ours, theirs in zip(model.backbone.weights, published.backbone.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert prefix.startswith(str(tmp_path))
    with pytest.raises(Exception, match="not a MoViNet a1 stream checkpoint"):
        training_model(config._replace(variant="a1"), num_classes=3, init=prefix)


def test_trained_weights_carry_over_to_the_stream_form():
    """`finetune --stream/--tflite` export the trained weights into the stream network (external states): fed frame
    by frame it must give the whole-clip network's logits."""
    import tensorflow as tf

    from vidlabel.movinet.export import build_classifier

    shape = [1, 8, 32, 32, 3]
    whole_clip = build_classifier("a0", "stream", 3, seed=21, external_states=False)
    whole_clip.build(shape)
    streaming = build_classifier("a0", "stream", 3, seed=99)
    frame_shape = [1, 1, 32, 32, 3]
    streaming({**streaming.init_states(frame_shape), "image": tf.zeros(frame_shape)})
    streaming.set_weights(whole_clip.get_weights())

    clip = tf.random.stateless_uniform(shape, seed=(1, 2))
    expected = whole_clip({"image": clip}, training=False).numpy()
    states = streaming.init_states(frame_shape)
    for t in range(shape[1]):
        logits, states = streaming({**states, "image": clip[:, t : t + 1]}, training=False)
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-4)
