"""A model's class names, in classifier order: one reader for every file that holds them."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.parse
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from vidlabel.movinet import download, published
from vidlabel.movinet.cache import cache_dir
from vidlabel.movinet.metadata import LABELS_FILE
from vidlabel.movinet.source import LocatedModel
from vidlabel.transforms.errors import ModelError


def read_labels(path: str, flag: str = "--label_file") -> list[str]:
    """Class names from a file (local or gs://), one a line, in classifier order; blank lines are skipped."""
    if not FileSystems.exists(path):
        raise ModelError(f"{flag} {path}: no such file")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return parse_labels(f.read())


def parse_labels(data: bytes) -> list[str]:
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


def load_labels(label_file: str | None, located: LocatedModel) -> list[str]:
    """A model's class names: `--label_file`, else the model's own labels.txt, else (published models only) the
    published Kinetics-600 file, downloaded once and cached."""
    if label_file:
        return read_labels(label_file)
    folder = located.path if os.path.isdir(located.path) else os.path.dirname(located.path)
    own = os.path.join(folder, LABELS_FILE)
    if os.path.exists(own):
        return read_labels(own)
    if located.published:
        return parse_labels(_cached_kinetics_labels())
    raise ModelError(
        f"the model {located.source} has no {LABELS_FILE} beside it: pass --label_file FILE (one class name a line, in "
        "classifier order; for Kinetics-600 models the file the MoViNet tutorial uses)"
    )


def _cached_kinetics_labels() -> bytes:
    """The Kinetics-600 label file, downloaded once into the cache. Whatever the location, the bytes must be the
    published file's (sha256): a mirror's or proxy's page, or a file cut short, is refused and not cached."""
    path = os.path.join(cache_dir(), "kinetics_600_labels.txt")
    if not os.path.exists(path):
        url = published.kinetics_labels_url()
        where = (
            f"{url} (from {published.KINETICS_600_LABELS_URL_ENV})" if url != published.KINETICS_600_LABELS_URL else url
        )
        data = io.BytesIO()
        try:
            if urllib.parse.urlsplit(url).scheme in ("http", "https", "ftp", "file"):
                download.fetch_url(url, data)
            else:  # a local path or gs://
                with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    data.write(f.read())
        except download.DOWNLOAD_ERRORS as exc:
            raise ModelError(
                f"cannot download the Kinetics-600 labels from {where}: {download.download_problem(exc)}; pass "
                f"--label_file FILE with the 600 class names, or set {published.KINETICS_600_LABELS_URL_ENV} to where "
                "a copy of the file is"
            ) from exc
        if hashlib.sha256(data.getvalue()).hexdigest() != published.KINETICS_600_LABELS_SHA256:
            raise ModelError(
                f"the file at {where} is not the Kinetics-600 label file (sha256 differs from "
                f"{published.KINETICS_600_LABELS_SHA256[:12]}...); pass --label_file FILE or set "
                f"{published.KINETICS_600_LABELS_URL_ENV}"
            )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.partial-{uuid.uuid4().hex}"
        with open(partial, "wb") as f:
            f.write(data.getvalue())
        os.replace(partial, path)
    with open(path, "rb") as f:
        return f.read()
