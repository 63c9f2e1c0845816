"""URIs and paths, literal file patterns, and folders written whole or not at all, on the real file system."""

import glob
import os

import pytest
from apache_beam.io.filesystems import FileSystems

from vidlabel.transforms import storage
from vidlabel.transforms.errors import UsageError


def test_uris_are_absolute_utf8_and_turn_back_into_the_same_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.to_uri("a.mp4") == str(tmp_path / "a.mp4")
    assert storage.to_uri("gs://bucket/a b.mp4") == "gs://bucket/a b.mp4"
    assert storage.to_local_path("gs://bucket/a.mp4") is None
    for name in ["plain.mp4", "été [1080p].mp4", os.fsdecode(b"caf\xe9.mp4")]:  # the last is not valid UTF-8
        (tmp_path / name).write_bytes(b"x")
        uri = storage.to_uri(name)
        uri.encode("utf-8")  # every table column is UTF-8
        path = storage.to_local_path(uri)
        assert path == str(tmp_path / name) and open(path, "rb").read() == b"x"
    assert storage.to_uri(os.fsdecode(b"caf\xe9.mp4")).startswith("file://")


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # Python's note on Beam's translated "[[]"
def test_escaped_glob_matches_exactly_the_named_file_with_glob_and_beam(tmp_path):
    for name in ["clip [1080p].mp4", "clip 1.mp4", "clip p.mp4", "what?.mp4", "whatX.mp4"]:
        (tmp_path / name).write_bytes(b"")
    for name in ["clip [1080p].mp4", "what?.mp4"]:
        pattern = storage.escape_glob(str(tmp_path / name))
        assert storage.is_glob(name)  # unescaped, "[1080p]" would match "clip 1.mp4" and "clip p.mp4"
        assert glob.glob(pattern) == [str(tmp_path / name)]
        assert [m.path for m in FileSystems.match([pattern])[0].metadata_list] == [str(tmp_path / name)]
    assert storage.is_glob("*.mp4") and not storage.is_glob("plain.mp4")


def test_check_new_folder_takes_a_new_or_empty_folder_only(tmp_path):
    storage.check_new_folder("--out", str(tmp_path / "new"))
    (tmp_path / "empty").mkdir()
    storage.check_new_folder("--out", str(tmp_path / "empty"))
    (tmp_path / "file").write_text("mine")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("mine")
    for name in ["file", "full"]:
        with pytest.raises(UsageError, match=f"--out {tmp_path / name} already exists and is not empty"):
            storage.check_new_folder("--out", str(tmp_path / name))


def test_atomic_folder_leaves_out_whole_on_success(tmp_path):
    out = tmp_path / "model"
    (tmp_path / "model.partial").mkdir()  # left by a writer that was killed
    (tmp_path / "model.partial" / "stale").write_text("old")
    with storage.atomic_folder(str(out)) as staging:
        assert not out.exists() and os.listdir(staging) == []
        (tmp_path / "model.partial" / "weights").write_text("new")
    assert os.listdir(out) == ["weights"] and not (tmp_path / "model.partial").exists()


def test_atomic_folder_leaves_out_absent_when_the_writer_fails(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(RuntimeError, match="training diverged"):
        with storage.atomic_folder(str(out)) as staging:
            open(os.path.join(staging, "half"), "w").close()
            raise RuntimeError("training diverged")
    assert os.listdir(tmp_path) == []
    (tmp_path / "empty").mkdir()  # an empty folder given as OUT is replaced by the whole result
    with storage.atomic_folder(str(tmp_path / "empty") + "/") as staging:
        open(os.path.join(staging, "done"), "w").close()
    assert os.listdir(tmp_path / "empty") == ["done"]


def test_storage_problem_names_the_innermost_cause():
    inner = FileNotFoundError("no such object: gs://b/x")
    wrapped = OSError("Match operation failed")
    wrapped.exception_details = {"gs://b/x": inner}
    assert storage.storage_problem(wrapped) == "FileNotFoundError: no such object: gs://b/x"
    assert storage.storage_problem(ValueError("bad")) == "ValueError: bad"
