"""Everything about the model, apart from Beam: where a MoViNet comes from, what it is, how it is called.

The modules, in the order the launcher meets them:
- `variants`: the A0-A5 variants as data, and the clip-length rule;
- `published`: the published models' aliases and URLs, and what their names say;
- `source`: `--model` resolved to local files (`locate_model`), through `download` (bounded downloads, TF Hub)
  and `cache` (vidlabel's model cache, models staged for Dataflow workers);
- `metadata`: `vidlabel.json` beside a model; `labels`: its class names;
- `signature`: a model's interface, read without loading it;
- `classifiers`: the three forms (base, stream, TFLite) behind one `logits()` call; `depthwise`: the CPU rewrite
  of base models' depthwise 3D convolutions;
- `export` and `finetune`: building and training MoViNet with Model Garden (the `export` extra).

The names the launcher and the Beam stages use are re-exported here. This package imports `vidlabel.transforms`'
storage, types and errors, and never `vidlabel.pipeline`.
"""

from vidlabel.movinet.cache import STAGED_MODELS, cache_dir, content_sha256, fetch_model, stage_model
from vidlabel.movinet.labels import load_labels, read_labels
from vidlabel.movinet.metadata import LABELS_FILE, METADATA_FILE, TFLITE_FILE, ModelMetadata
from vidlabel.movinet.published import ALIASES, PublishedModel, published_model, published_signature
from vidlabel.movinet.signature import ServingSignature, read_signature
from vidlabel.movinet.source import LocatedModel, locate_model
from vidlabel.transforms.errors import ModelError

__all__ = [
    "ALIASES",
    "LABELS_FILE",
    "METADATA_FILE",
    "STAGED_MODELS",
    "TFLITE_FILE",
    "LocatedModel",
    "ModelError",
    "ModelMetadata",
    "PublishedModel",
    "ServingSignature",
    "cache_dir",
    "content_sha256",
    "fetch_model",
    "load_labels",
    "locate_model",
    "published_model",
    "published_signature",
    "read_labels",
    "read_signature",
    "stage_model",
]
