"""Where a model comes from: `--model` resolved to local files and what its source says about it.

`--model` takes a published alias, a TF Hub / Kaggle URL, or a SavedModel folder or `.tflite` file, local or
`gs://`. Hub downloads are cached by tensorflow-hub; other downloads and gs:// copies go to vidlabel's cache.
"""

from __future__ import annotations

import dataclasses
import os

from vidlabel.movinet import download, published
from vidlabel.movinet.cache import fetch_model
from vidlabel.movinet.metadata import METADATA_FILE, ModelMetadata, read_metadata
from vidlabel.transforms.errors import ModelError


@dataclasses.dataclass(frozen=True)
class LocatedModel:
    """A model as a local SavedModel folder, with whatever metadata its source gives."""

    source: str  # what the user passed
    path: str  # local SavedModel folder or .tflite file
    metadata: ModelMetadata
    published: bool  # a published Kinetics-600 model: its labels can be fetched from the published location


def locate_model(model: str, offline: bool = False) -> LocatedModel:
    """Resolves `--model` to a local SavedModel folder or .tflite file and its metadata, fetching as needed.
    `offline` (a dry run): a published model is not downloaded; its `path` stays the download URL."""
    known = published.published_model(model)
    if known:
        url = published.ALIASES.get(model, model)
        metadata = published.published_metadata(known, url)
        if offline:
            return LocatedModel(model, published.tflite_url(url) if known.tflite else url, metadata, published=True)
        local = download.download_tflite(published.tflite_url(url)) if known.tflite else download.from_hub(url)
        if os.path.exists(os.path.join(local if os.path.isdir(local) else os.path.dirname(local), METADATA_FILE)):
            metadata = read_metadata(local)  # a vidlabel export served at a published path: it knows itself best
        return LocatedModel(model, local, metadata, published=True)
    if model.startswith(("http://", "https://")):
        local = download.download_tflite(model) if "tflite" in model else download.from_hub(model)
        return LocatedModel(model, local, read_metadata(local), published=True)
    if model.startswith("gs://"):
        local = fetch_model(model)
        return LocatedModel(model, local, read_metadata(local), published=False)
    if "://" in model:
        raise ModelError(
            f"--model {model}: unsupported scheme; use a local path, gs://, a hub URL or an alias "
            f"({', '.join(published.ALIASES)})"
        )
    if not os.path.exists(model):
        if "-" in model and "/" not in model:
            raise ModelError(
                f"--model {model}: unknown alias and no such file or folder. Aliases: {', '.join(published.ALIASES)}"
            )
        raise ModelError(f"--model {model}: no such file or folder")
    if os.path.isdir(model) and not os.path.isfile(os.path.join(model, "saved_model.pb")):
        raise ModelError(f"--model {model}: not a SavedModel folder (no saved_model.pb in it)")
    local = os.path.abspath(model)
    return LocatedModel(model, local, read_metadata(local), published=False)
