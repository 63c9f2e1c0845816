"""What vidlabel needs to know about a model besides its weights: `vidlabel.json` beside the SavedModel.

Models exported by `vidlabel export-model` or `vidlabel finetune` carry `vidlabel.json` (variant, mode, rate,
resolution, clip length, which output holds the logits) and `labels.txt` beside the SavedModel, and `model.tflite`
when asked for. Published models carry neither; their metadata comes from their name (`published.py`).
"""

from __future__ import annotations

import dataclasses
import json
import os

METADATA_FILE = "vidlabel.json"
LABELS_FILE = "labels.txt"
TFLITE_FILE = "model.tflite"


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    """What vidlabel needs to know about a model besides its weights (`vidlabel.json`)."""

    variant: str | None = None
    mode: str = "base"  # the interface: "base" scores whole clips, "stream" carries states frame to frame
    architecture: str | None = None  # the network, when it differs from `mode`: a fine-tuned causal (2+1)D
    # "stream" network exported with a whole-clip ("base") interface
    fps: float | None = None
    resolution: int | None = None
    clip_frames: int | None = None
    num_classes: int | None = None
    output_key: str | None = None
    source: str | None = None  # how the weights were made: checkpoint path, "random (seed N)", hub handle
    training_warnings: tuple[str, ...] = ()  # what `vidlabel finetune` warned of; `vidlabel run` says it again

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["training_warnings"] = tuple(data.get("training_warnings", ()))
        return cls(**data)


def read_metadata(local_path: str) -> ModelMetadata:
    """`vidlabel.json` in a SavedModel folder, or beside a .tflite file."""
    folder = local_path if os.path.isdir(local_path) else os.path.dirname(local_path)
    path = os.path.join(folder, METADATA_FILE)
    if not os.path.exists(path):
        return ModelMetadata()
    with open(path, encoding="utf-8") as f:
        return ModelMetadata.from_json(f.read())
