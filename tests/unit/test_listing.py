"""Listing rules, and the job's file list read back on a real Beam runner as the launcher listed it."""

import os
import urllib.parse

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from vidlabel.transforms import listing

EXTS = listing.normalise_extensions(listing.DEFAULT_EXTENSIONS)


def list_videos(inputs, manifest, extensions):
    return [f.uri for f in listing.list_videos(inputs, manifest, extensions)]


def make_tree(root):
    (root / "a" / "b").mkdir(parents=True)
    for rel in ["x.MP4", "a/y.mkv", "a/b/z.WebM", "a/b/notes.txt", "a/b/noext", "a/.hidden.avi"]:
        (root / rel).write_bytes(b"")
    os.symlink(root, root / "a" / "loop")  # a symlink loop must not hang or repeat the listing
    return root


def test_folder_is_searched_recursively_for_video_extensions_case_insensitively(tmp_path):
    root = make_tree(tmp_path)
    found = list_videos([str(root)], None, EXTS)
    assert found == sorted(str(root / p) for p in ["x.MP4", "a/y.mkv", "a/b/z.WebM", "a/.hidden.avi"])


def test_extensions_flag_changes_what_folders_give(tmp_path):
    root = make_tree(tmp_path)
    assert list_videos([str(root)], None, listing.normalise_extensions([".TXT"])) == [str(root / "a/b/notes.txt")]


def test_glob_and_single_file_take_exactly_what_they_name(tmp_path):
    root = make_tree(tmp_path)
    assert list_videos([str(root / "a" / "b" / "*")], None, EXTS) == sorted(
        str(root / "a/b" / n) for n in ["z.WebM", "notes.txt", "noext"]
    )
    assert list_videos([str(root / "a/b/notes.txt")], None, EXTS) == [str(root / "a/b/notes.txt")]


def test_manifest_skips_blanks_and_comments_and_resolves_relative_paths(tmp_path):
    root = make_tree(tmp_path)
    manifest = root / "list.txt"
    manifest.write_text(f"# my videos\n\nx.MP4\n  a/y.mkv  \n{root}/a/b/z.WebM\nx.MP4\ngs://bucket/v.mp4\n")
    local = [str(root / "x.MP4"), str(root / "a/y.mkv"), str(root / "a/b/z.WebM")]
    assert listing.read_manifest(str(manifest)) == [local[0], local[1], local[2], local[0], "gs://bucket/v.mp4"]
    manifest.write_text("\n".join(local + ["# a comment", "", local[0]]) + "\n")
    assert list_videos([], str(manifest), EXTS) == sorted(local)  # each file once


def test_non_utf8_file_names_get_a_reversible_utf8_uri(tmp_path):
    name = os.fsdecode(b"caf\xe9.mp4")  # Latin-1 bytes: not valid UTF-8
    (tmp_path / name).write_bytes(b"")
    [uri] = list_videos([str(tmp_path)], None, EXTS)
    uri.encode("utf-8")
    assert uri.startswith("file://") and uri.endswith("caf%E9.mp4")
    assert urllib.parse.unquote_to_bytes(uri[len("file://") :]) == os.fsencode(str(tmp_path / name))
    assert listing.to_local_path(uri) == str(tmp_path / name)


def test_the_job_file_list_reads_back_on_a_runner_as_listed_each_file_once(tmp_path):
    root = make_tree(tmp_path)
    manifest = root / "list.txt"
    manifest.write_text("x.MP4\na/y.mkv\n")
    inputs = [str(root), str(root / "a" / "b" / "*.txt")]
    expected = listing.list_videos(inputs, str(manifest), EXTS)  # with sizes and modification times
    assert len(expected) == len({f.uri for f in expected}) == 5
    assert all(f.size == 0 and f.modified_s for f in expected)
    job_files = str(tmp_path / "b00000.jsonl")
    listing.write_job_files(expected, job_files)
    options = PipelineOptions(runner="FnApiRunner")
    with TestPipeline(options=options) as p:
        files = p | listing.ReadJobFiles(job_files)
        assert_that(files, equal_to(expected))


def test_manifest_entries_that_are_gone_are_listed_without_a_size(tmp_path):
    (tmp_path / "here.mp4").write_bytes(b"12345")
    found = listing.stat_videos([str(tmp_path / "here.mp4"), str(tmp_path / "gone.mp4")])
    assert [(f.uri.rsplit("/", 1)[-1], f.size) for f in found] == [("here.mp4", 5), ("gone.mp4", None)]
