"""Model content hashes, and a model staged under a temp location (here a local folder) for workers to fetch."""

import os

import pytest

from vidlabel.movinet import ModelError, cache


def saved_model(folder, weights=b"w" * 3000):
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(weights)
    return folder


def test_content_sha256_covers_names_and_bytes_not_creation_order(tmp_path):
    a = saved_model(tmp_path / "a")
    b = tmp_path / "b"
    (b / "variables").mkdir(parents=True)  # the same files, written in the other order
    (b / "variables" / "variables.data-00000-of-00001").write_bytes(b"w" * 3000)
    (b / "saved_model.pb").write_bytes(b"graph")
    assert cache.content_sha256(str(a)) == cache.content_sha256(str(b))
    (b / "saved_model.pb").write_bytes(b"graph!")
    assert cache.content_sha256(str(a)) != cache.content_sha256(str(b))
    os.rename(a / "saved_model.pb", a / "other.pb")
    assert cache.content_sha256(str(a)) != cache.content_sha256(str(saved_model(tmp_path / "c")))
    (tmp_path / "x.tflite").write_bytes(b"lite")
    (tmp_path / "y.tflite").write_bytes(b"lite")
    assert cache.content_sha256(str(tmp_path / "x.tflite")) != cache.content_sha256(str(tmp_path / "y.tflite"))


def test_a_saved_model_is_staged_once_by_content_and_fetched_as_it_is(tmp_path):
    model, temp = saved_model(tmp_path / "model"), str(tmp_path / "temp")
    uri = cache.stage_model(str(model), temp)
    assert os.path.dirname(uri) == f"{temp}/{cache.STAGED_MODELS}" and len(os.path.basename(uri)) == 16
    assert cache.content_sha256(uri) == cache.content_sha256(str(model))
    staged = os.path.join(uri, "saved_model.pb")
    first = os.stat(staged).st_mtime_ns
    assert cache.stage_model(str(model), temp) == uri and os.stat(staged).st_mtime_ns == first  # reused
    os.remove(os.path.join(uri, "variables", "variables.data-00000-of-00001"))  # a lifecycle rule deleted it
    assert cache.stage_model(str(model), temp) == uri
    assert cache.content_sha256(uri) == cache.content_sha256(str(model))
    assert cache.fetch_model(uri) == uri  # a local path: workers on this machine load it where it is
    other = saved_model(tmp_path / "other", weights=b"v" * 3000)
    assert cache.stage_model(str(other), temp) != uri


def test_a_tflite_file_is_staged_with_its_metadata_and_labels_under_the_name_workers_know(tmp_path):
    (tmp_path / "my_model.tflite").write_bytes(b"lite")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "vidlabel.json").write_text("{}")
    (tmp_path / "unrelated.txt").write_text("not staged")
    uri = cache.stage_model(str(tmp_path / "my_model.tflite"), str(tmp_path / "temp"))
    assert os.path.basename(uri) == "model.tflite"
    assert sorted(os.listdir(os.path.dirname(uri))) == ["labels.txt", "model.tflite", "vidlabel.json"]
    assert open(uri, "rb").read() == b"lite"


def test_fetching_a_local_model_that_is_not_there_says_why(tmp_path):
    with pytest.raises(ModelError, match="is not on this machine"):
        cache.fetch_model(str(tmp_path / "gone"))
