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
