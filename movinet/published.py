"""The published MoViNets: their aliases, the URLs they are known by, and what their names say about them.

`a0-base` ... `a5-base`, `a0-stream` ... `a5-stream` and `a0-stream-tflite` ... `a2-stream-tflite` name the models
of the official tutorial. A URL whose path is a published MoViNet's (tfhub.dev's
`/tensorflow/movinet/a2/base/kinetics-600/classification/3`, the TFLite `/tensorflow/lite-model/movinet/...`, or
Kaggle's `/models/google/movinet/TensorFlow2/a2-base-...`) is that model whatever the host, so a mirror serving the
same paths works: it gets the variant's rate, resolution and clip length and the published Kinetics-600 labels,
exactly as its alias does. The label file's location can be moved with VIDLABEL_KINETICS_LABELS_URL (its content
is checked by sha256 either way).
"""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import NamedTuple

from vidlabel.movinet.metadata import ModelMetadata
from vidlabel.movinet.signature import ServingSignature
from vidlabel.movinet.variants import MODES, MOVINET_VARIANTS, published_clip_frames
from vidlabel.transforms.errors import ModelError

PUBLISHED_HANDLE = "https://tfhub.dev/tensorflow/movinet/{variant}/{mode}/kinetics-600/classification/3"
PUBLISHED_TFLITE = (
    "https://tfhub.dev/tensorflow/lite-model/movinet/{variant}/stream/kinetics-600/classification/tflite/float16/1"
    "?lite-format=tflite"
)


ALIASES = {
    **{f"{v}-{mode}": PUBLISHED_HANDLE.format(variant=v, mode=mode) for v in MOVINET_VARIANTS for mode in MODES},
    **{f"{v}-stream-tflite": PUBLISHED_TFLITE.format(variant=v) for v in ("a0", "a1", "a2")},
}


# The label file the official MoViNet tutorial loads (Kinetics-600, in classifier order).
KINETICS_600_LABELS_URL = (
    "https://raw.githubusercontent.com/tensorflow/models/f8af2291cced43fc9f1d9b41ddbf772ae7b0d7d2/"
    "official/projects/movinet/files/kinetics_600_labels.txt"
)


# Where to get it instead (a mirror, an internal server, a file:// or gs:// copy); the sha256 is checked either way.
KINETICS_600_LABELS_URL_ENV = "VIDLABEL_KINETICS_LABELS_URL"
KINETICS_600_LABELS_SHA256 = "8dfca4202520ea8291ce0242ef33b006d0a0772b409663c090a2876bc1978dcf"  # checked on download


class PublishedModel(NamedTuple):
    """A published MoViNet as its URL names it."""

    variant: str  # "a0" ... "a5"
    mode: str  # "base" or "stream"
    tflite: str | None  # the TFLite file's quantisation ("float16", "int8"); None for the SavedModel
    version: int


_VARIANT = "|".join(MOVINET_VARIANTS)


# The paths the published models live at, matched whatever the host (and whatever folder a mirror puts them under):
# tfhub.dev's handles (which tfhub.dev redirects to Kaggle), tfhub.dev's TFLite files, and Kaggle's own two URL forms
# (the model page's `/TensorFlow2/<variation>/<version>` and the API's `/frameworks/.../variations/.../versions/...`;
# Kaggle writes the framework as TensorFlow2 or tensorFlow2, tfLite or TFLite).
_KAGGLE_VARIATION = (
    rf"(?P<variant>{_VARIANT})-(?P<mode>base|stream)-kinetics-600-classification(?:-tflite-(?P<tflite>int8|float16))?"
)


_PUBLISHED_PATHS = tuple(
    re.compile(r"(?:/.+)?" + pattern)
    for pattern in (
        rf"/tensorflow/movinet/(?P<variant>{_VARIANT})/(?P<mode>base|stream)/kinetics-600/classification/"
        rf"(?P<version>\d+)",
        rf"/tensorflow/lite-model/movinet/(?P<variant>{_VARIANT})/(?P<mode>stream)/kinetics-600/classification/tflite/"
        rf"(?P<tflite>int8|float16)/(?P<version>\d+)",
        rf"/models/google/movinet/(?P<framework>(?i:tensorflow2|tflite))/{_KAGGLE_VARIATION}/(?P<version>\d+)",
        rf"/models/google/movinet/frameworks/(?P<framework>(?i:tensorflow2|tflite))/variations/{_KAGGLE_VARIATION}"
        rf"/versions/(?P<version>\d+)",
    )
)


def published_model(model: str) -> PublishedModel | None:
    """The published model an alias or an http(s) URL names, or None. A URL is recognised by its path alone, so the
    same model typed as a tfhub.dev handle, a Kaggle URL or a mirror's URL gets the same metadata as its alias."""
    if model in ALIASES:
        model = ALIASES[model]
    if not model.startswith(("http://", "https://")):
        return None
    path = urllib.parse.urlsplit(model).path.rstrip("/")
    for pattern in _PUBLISHED_PATHS:
        match = pattern.fullmatch(path)
        if not match:
            continue
        found = {"framework": None, "tflite": None, **match.groupdict()}
        if found["framework"] and (found["framework"].lower() == "tflite") != bool(found["tflite"]):
            return None  # a TFLite variation under the TensorFlow2 framework, or the reverse: not a published model
        if found["tflite"] and found["mode"] != "stream":
            return None  # only the stream models are published as TFLite
        return PublishedModel(found["variant"], found["mode"], found["tflite"], int(found["version"]))
    return None


def published_metadata(published: PublishedModel, source: str) -> ModelMetadata:
    """What the published models do not carry (they have no vidlabel.json): the variant's rate and resolution and
    the 10-second clips they were trained and evaluated on, Kinetics-600's 600 classes."""
    spec = MOVINET_VARIANTS[published.variant]
    return ModelMetadata(
        variant=published.variant,
        mode=published.mode,
        fps=spec.fps,
        resolution=spec.resolution,
        clip_frames=published_clip_frames(spec.fps),
        num_classes=600,
        source=source,
    )


def published_signature(model: str) -> ServingSignature:
    """A published model's interface as its alias (or published URL) tells it, for a dry run that cannot download
    the model."""
    published = published_model(model)
    if published is None:
        raise ModelError(f"--model {model}: not a published model")
    variant = MOVINET_VARIANTS[published.variant]
    if published.tflite:
        side = variant.resolution
        return ServingSignature("tflite", (1, 1, side, side, 3), "logits", 600, variant.embedding_dim)
    if published.mode == "stream":
        return ServingSignature("stream", (None, 1, None, None, 3), "logits", 600, variant.embedding_dim)
    return ServingSignature("base", (None, None, None, None, 3), "classifier_head", 600, variant.embedding_dim)


def tflite_url(url: str) -> str:
    """A published TFLite model's download URL: its page's URL with `lite-format=tflite` (without it tfhub.dev and
    Kaggle answer with the model's web page)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    if ("lite-format", "tflite") in query:
        return url
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query + [("lite-format", "tflite")])))


def kinetics_labels_url() -> str:
    """Where the published models' labels come from: VIDLABEL_KINETICS_LABELS_URL if set, else the published file."""
    return os.environ.get(KINETICS_600_LABELS_URL_ENV) or KINETICS_600_LABELS_URL
