"""`vidlabel export-model` writes what the published MoViNet SavedModels are, plus vidlabel's metadata."""

import json

import numpy as np
import pytest

from vidlabel import movinet

from conftest import KINETICS_LABELS, SMALL, vidlabel


def test_exported_folder_has_the_published_interface_and_metadata(small_model):
    signature = movinet.read_signature(str(small_model))
    assert signature == ("base", (None, None, None, None, 3), "classifier_head", 600, 480)  # 480: A0's embedding
    metadata = json.loads((small_model / "vidlabel.json").read_text())
    assert metadata == {
        "variant": "a0",
        "mode": "base",
        "architecture": "base",
        "fps": SMALL["fps"],
        "resolution": SMALL["resolution"],
        "clip_frames": SMALL["frames"],
        "num_classes": 600,
        "output_key": "classifier_head",
        "source": "random weights (seed 7)",
        "training_warnings": [],  # only `vidlabel finetune` has any to give
    }
    assert (small_model / "labels.txt").read_text().split("\n")[:-1] == KINETICS_LABELS.read_text().split("\n")[:-1]


def test_exported_model_loads_as_published_ones_do(small_model):
    tf = pytest.importorskip("tensorflow")
    loaded = tf.saved_model.load(str(small_model))
    logits = loaded.signatures["serving_default"](image=tf.ones([2, 3, 32, 32, 3]))["classifier_head"]
    assert logits.shape == (2, 600)


def test_same_seed_same_weights_other_seed_other_weights():
    from vidlabel.movinet.export import build_classifier

    def weights(seed):
        model = build_classifier("a0", "base", num_classes=600, seed=seed)
        model.build([1, 1, 1, 1, 3])
        return [w.numpy() for w in model.weights]

    a, b, c = weights(3), weights(3), weights(4)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, z) for x, z in zip(a, c))


def test_refuses_without_a_weight_source_or_into_a_used_folder(tmp_path):
    result = vidlabel("export-model", "--variant", "a0", "--out", tmp_path / "m", check=False)
    assert result.returncode == 2 and "--checkpoint" in result.stderr and "--random_weights" in result.stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    result = vidlabel("export-model", "--variant", "a0", "--random_weights", "--out", tmp_path / "used", check=False)
    assert result.returncode == 2 and "not empty" in result.stderr
