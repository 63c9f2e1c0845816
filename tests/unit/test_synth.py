"""`vidlabel synth --sequences`: the truth a benchmark checks vidlabel's segments against must be the videos' truth.

The videos are decoded back with PyAV, so the checks hold for the files as written (frame count, rate, duration and
where each hard cut falls), not for what the renderer meant to write.
"""

import csv
import itertools
import re

import av
import numpy as np
import pytest

from vidlabel.pipeline.commands import synth
from vidlabel.transforms.errors import UsageError

CLASSES = ("move_left", "move_right", "grow")


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    """Four sequence videos at the default 3-5 actions of 2-6 s, and their truth rows grouped per video."""
    out = tmp_path_factory.mktemp("synth")
    argv = ["--out", str(out), "--classes", ",".join(CLASSES), "--videos_per_class", "0", "--sequences", "4"]
    assert synth.main([*argv, "--seed", "3"]) == 0
    with open(out / synth.SEQUENCES_CSV, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == synth.SEQUENCE_COLUMNS
        rows = list(reader)
    truth = {video: list(group) for video, group in itertools.groupby(rows, key=lambda r: r["video"])}
    return out, truth


def decoded(path):
    """(frames per second, decoded frames as float32 RGB, the stream's duration in seconds)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(stream)]
        return float(stream.average_rate), frames, float(stream.duration * stream.time_base)


def test_only_sequence_videos_and_their_truth_are_written(sequences):
    out, truth = sequences
    assert sorted(p.name for p in out.iterdir()) == [*(f"sequence-{i:04d}.mp4" for i in range(4)), "sequences.csv"]
    assert sorted(truth) == [f"sequence-{i:04d}.mp4" for i in range(4)]  # each video's rows together, in order


def test_the_actions_tile_each_video_3_to_5_actions_of_2_to_6_seconds_consecutive_ones_differ(sequences):
    out, truth = sequences
    for video, rows in truth.items():
        fps, frames, duration = decoded(out / video)
        starts, ends = [float(r["start_s"]) for r in rows], [float(r["end_s"]) for r in rows]
        assert [int(r["action_index"]) for r in rows] == list(range(len(rows))), video
        assert 3 <= len(rows) <= 5, video
        assert starts[0] == 0.0 and starts[1:] == ends[:-1], video  # contiguous, no gap or overlap
        assert ends[-1] == pytest.approx(len(frames) / fps) == pytest.approx(duration), video
        assert all(2.0 <= end - start <= 6.0 for start, end in zip(starts, ends)), video
        labels = [r["label"] for r in rows]
        assert set(labels) <= set(CLASSES) and all(a != b for a, b in zip(labels, labels[1:])), video
        for start in starts:  # every action starts on a frame
            assert start * fps == pytest.approx(round(start * fps)), video


def test_each_hard_cut_falls_where_the_truth_says_the_action_changes(sequences):
    out, truth = sequences
    for video, rows in truth.items():
        fps, frames, _ = decoded(out / video)
        change = np.array([np.abs(a - b).mean() for a, b in zip(frames, frames[1:])])  # before frame i + 1
        cuts = sorted(round(float(r["start_s"]) * fps) for r in rows[1:])
        assert sorted(np.argsort(change)[::-1][: len(cuts)] + 1) == cuts, video  # the biggest changes


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--classes", "grow", "--sequences", "2"], "needs at least two --classes"),
        (["--sequences", "2", "--actions_per_video", "three"], "--actions_per_video: expected MIN-MAX"),
        (["--sequences", "2", "--action_seconds", "6-2"], "--action_seconds: expected 0 < MIN <= MAX"),
        (["--videos_per_class", "0"], "--videos_per_class must be >= 1 (>= 0 with --sequences)"),
    ],
)
def test_bad_sequence_flags_are_usage_errors_before_anything_is_written(tmp_path, flags, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        synth.main(["--out", str(tmp_path / "out"), *flags])
    assert not (tmp_path / "out").exists()
