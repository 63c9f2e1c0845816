"""Starting from a backbone (`vidlabel finetune --init`), the small-data path: the round trip of every trained
weight through an exported model, the two-stage recipe (`--freeze_epochs`), and cross-validation (`--folds`).

The backbone is one `finetune` itself exported (the offline stand-in for published Kinetics weights), with every
weight moved off its initial value, the 15 blocks' ReZero `scale` scalars included (they start at 0)."""

import json

import numpy as np
import pytest

from conftest import vidlabel

tf = pytest.importorskip("tensorflow")

from vidlabel.movinet.finetune import ClipSet, TrainingConfig, export_trained, fit, training_model  # noqa: E402

CONFIG = TrainingConfig("a0", "stream", 8.0, 32, 4, epochs=2, batch_size=4, learning_rate=1e-2, seed=3)


def clip_set(count: int, seed: int) -> ClipSet:
    rng = np.random.default_rng(seed)
    return ClipSet(
        frames=rng.integers(0, 256, (count, 4, 32, 32, 3), dtype=np.uint8),
        lengths=np.full(count, 4, np.int32),
        labels=rng.integers(0, 3, count).astype(np.int32),
        videos=np.arange(count, dtype=np.int32),
    )


def features(backbone, clip) -> np.ndarray:
    endpoints, _ = backbone({"image": clip}, training=False)
    return endpoints["head"].numpy()


@pytest.fixture(scope="module")
def trained_backbone(tmp_path_factory):
    """(exported model folder, the model it was exported from): weights moved as training moves them."""
    model = training_model(CONFIG, num_classes=3, init=None)
    rng = np.random.default_rng(5)
    for weight in model.weights:
        weight.assign(weight.numpy() + rng.normal(0, 0.05, weight.shape).astype(np.float32))
    out = tmp_path_factory.mktemp("backbone") / "model"
    record = {"warnings": []}
    export_trained(model, str(out), CONFIG, ["a", "b", "c"], source="test", record=record, stream=True, tflite=False)
    return out, model


def test_init_restores_every_backbone_weight_and_its_features(trained_backbone):
    out, trained = trained_backbone
    scales = [w for w in trained.backbone.weights if w.name.endswith("/scale:0")]
    assert len(scales) == 15 and all(abs(float(w.numpy())) > 1e-4 for w in scales)
    clip = tf.random.stateless_uniform([2, 4, 32, 32, 3], seed=(1, 2))
    for init in (out, out / "stream"):  # the whole-clip SavedModel and the stream one (external states)
        restored = training_model(CONFIG, num_classes=5, init=str(init)).backbone
        for ours, theirs in zip(restored.weights, trained.backbone.weights):
            assert ours.name == theirs.name
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=f"{init}: {ours.name}")
        np.testing.assert_allclose(features(restored, clip), features(trained.backbone, clip), atol=1e-5)


def test_frozen_epochs_train_the_head_alone(trained_backbone):
    out, _ = trained_backbone
    train, validation = clip_set(8, 1), clip_set(4, 2)
    model = training_model(CONFIG, num_classes=3, init=str(out))
    before = {w.name: w.numpy() for w in model.weights}
    history = fit(model, CONFIG._replace(freeze_epochs=2), train, validation, log=lambda line: None)
    assert len(history) == 2 and model.backbone.trainable  # unfrozen again for export
    changed = {w.name for w in model.weights if not np.array_equal(w.numpy(), before[w.name])}
    backbone = {w.name for w in model.backbone.weights}
    assert changed and not changed & backbone  # batch-norm statistics included: inference mode while frozen

    lines = []
    fit(model, CONFIG._replace(freeze_epochs=1, epochs=3, patience=0), train, validation, log=lines.append)
    assert lines[0].startswith("epochs 1-1: the head alone") and lines[2].startswith("epochs 2-3: every weight")
    # The second stage's optimiser trains every weight (AdamW keeps two slots per trained weight); which epoch's
    # weights are kept depends on validation accuracy, here on random clips.
    assert len(model.optimizer.variables) >= 2 * len(model.trainable_weights) > 500


def test_init_two_stage_and_folds_through_the_command(trained_backbone, tmp_path):
    out, _ = trained_backbone
    classes = "move_left,move_right"
    vidlabel("synth", "--out", tmp_path / "data", "--classes", classes, "--videos_per_class", 4, "--seed", 8)
    model = tmp_path / "model"
    flags = ("--resolution", "32", "--fps", "8", "--clip_seconds", "0.5", "--epochs", "4", "--batch_size", "4")
    two_stages = ("--init", out, "--freeze_epochs", 3)
    result = vidlabel("finetune", "--data", tmp_path / "data", "--out", model, *two_stages, "--folds", 2, *flags)
    assert "epochs 1-3: the head alone, on the frozen backbone (--freeze_epochs 3)" in result.stdout
    assert "cross-validation over 2 folds: validation accuracy" in result.stdout
    record = json.loads((model / "training.json").read_text())
    assert record["init"] == str(out) and record["config"]["freeze_epochs"] == 3
    assert record["config"]["augmentation"] == {"enabled": True, "flip": False, "reverse": False, "still_frame": 0.5}
    assert record["config"]["patience"] == 5  # --patience's default with --init
    folds = record["cross_validation"]
    assert folds["folds"] == 2 and len(folds["accuracy"]) == 2
    assert folds["accuracy_mean"] == pytest.approx(np.mean(folds["accuracy"]))
    assert folds["accuracy_std"] == pytest.approx(np.std(folds["accuracy"]))
