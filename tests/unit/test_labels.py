"""A model's class names: one reader, and the order in which a run looks for them."""

import shutil

import pytest

from vidlabel.movinet import LocatedModel, ModelError, ModelMetadata, labels, published

from conftest import KINETICS_LABELS


def located(path, is_published=False):
    return LocatedModel(source=str(path), path=str(path), metadata=ModelMetadata(), published=is_published)


def test_read_labels_strips_names_and_skips_blank_lines(tmp_path):
    (tmp_path / "labels.txt").write_bytes("run\n\n  jump  \r\nsaut à la perche\n\n".encode())
    assert labels.read_labels(str(tmp_path / "labels.txt")) == ["run", "jump", "saut à la perche"]


def test_a_missing_label_file_is_a_model_error_naming_the_flag(tmp_path):
    with pytest.raises(ModelError, match=f"--label_file {tmp_path}/gone.txt: no such file"):
        labels.read_labels(str(tmp_path / "gone.txt"))
    with pytest.raises(ModelError, match="^--classes_file"):
        labels.read_labels(str(tmp_path / "gone.txt"), flag="--classes_file")


def test_load_labels_takes_the_flag_then_the_models_own_file(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "labels.txt").write_text("own a\nown b\n")
    (tmp_path / "mine.txt").write_text("mine a\nmine b\n")
    assert labels.load_labels(str(tmp_path / "mine.txt"), located(model)) == ["mine a", "mine b"]
    assert labels.load_labels(None, located(model)) == ["own a", "own b"]
    assert labels.load_labels(None, located(model / "model.tflite")) == ["own a", "own b"]  # beside a .tflite


def test_an_unpublished_model_without_labels_needs_the_flag(tmp_path):
    with pytest.raises(ModelError, match="has no labels.txt beside it: pass --label_file FILE"):
        labels.load_labels(None, located(tmp_path))


def test_published_models_get_the_kinetics_file_checked_by_sha256_and_cached(tmp_path, monkeypatch):
    """The file is fetched from VIDLABEL_KINETICS_LABELS_URL (here a local copy), once; another file is refused."""
    monkeypatch.setenv("VIDLABEL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(published.KINETICS_600_LABELS_URL_ENV, str(tmp_path / "wrong.txt"))
    (tmp_path / "wrong.txt").write_text("not\nthe\nfile\n")
    with pytest.raises(ModelError, match="is not the Kinetics-600 label file"):
        labels.load_labels(None, located(tmp_path, is_published=True))
    assert not (tmp_path / "cache").exists()

    shutil.copy(KINETICS_LABELS, tmp_path / "mirror.txt")
    monkeypatch.setenv(published.KINETICS_600_LABELS_URL_ENV, str(tmp_path / "mirror.txt"))
    names = labels.load_labels(None, located(tmp_path, is_published=True))
    assert len(names) == 600 and names == KINETICS_LABELS.read_text().splitlines()
    (tmp_path / "mirror.txt").unlink()  # cached: not fetched again
    assert labels.load_labels(None, located(tmp_path, is_published=True)) == names
