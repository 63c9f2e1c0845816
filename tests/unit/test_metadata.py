"""`vidlabel.json` beside a model: written and read back, tolerant of keys a newer vidlabel adds."""

import json

from vidlabel.movinet import metadata
from vidlabel.movinet.metadata import ModelMetadata

A0 = ModelMetadata(
    variant="a0", mode="stream", fps=5, resolution=172, clip_frames=50, num_classes=4, output_key="logits"
)


def test_json_round_trip_ignores_unknown_keys():
    assert ModelMetadata.from_json(A0.to_json()) == A0
    newer = {**json.loads(A0.to_json()), "added_by_a_newer_vidlabel": True}
    assert ModelMetadata.from_json(json.dumps(newer)) == A0


def test_read_metadata_from_a_folder_or_beside_a_tflite_file_else_defaults(tmp_path):
    assert metadata.read_metadata(str(tmp_path)) == ModelMetadata()
    assert ModelMetadata().mode == "base" and ModelMetadata().fps is None
    (tmp_path / metadata.METADATA_FILE).write_text(A0.to_json())
    assert metadata.read_metadata(str(tmp_path)) == A0
    assert metadata.read_metadata(str(tmp_path / metadata.TFLITE_FILE)) == A0


def test_training_warnings_travel_in_vidlabel_json_and_older_files_have_none():
    from vidlabel.movinet.finetune import training_warnings

    warned = ModelMetadata(mode="base", training_warnings=("near chance",))
    assert ModelMetadata.from_json(warned.to_json()) == warned
    assert ModelMetadata.from_json('{"mode": "stream"}').training_warnings == ()
    report = {"accuracy": 0.36, "chance": 0.25}
    near, memorised = training_warnings({"epoch": 6, "accuracy": 0.72}, report)  # the issue's own run
    assert near.startswith("validation accuracy 0.36 is near chance (0.25)")
    assert memorised.startswith("training accuracy 0.72 far above validation accuracy 0.36 (best epoch 6)")
    assert training_warnings({"epoch": 9, "accuracy": 1.0}, {"accuracy": 0.95, "chance": 0.25}) == []
    assert training_warnings({"epoch": 1, "accuracy": 1.0}, None)[0].startswith("no validation videos")
