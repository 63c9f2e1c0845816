"""Exact sparse decoding (`--sparse_decode on`, `transforms/sparse.py`): every real shared video and rendered ones
(B-frames with a B-pyramid, open GOP, HEVC, an Annex B stream in MPEG-TS, frame rates that do not divide the model's,
variable frame rate) decoded both ways give the same clips frame for frame, the same clip keys and the same video
facts; only the shots (and so each clip's `shot_seconds`) come from the frames decoded."""

import fractions

import av
import numpy as np
import pytest

from vidlabel.transforms.decode import decode_video, decoded_frames, pick_video_stream, sparse_planner
from vidlabel.transforms.sparse import SkippedFrame
from vidlabel.transforms.types import ClipSpec, DecodeLimits, DecodeOptions, Thumbnail, VideoError, VideoInfo

from conftest import DECODABLE, VIDEOS

A0 = ClipSpec(fps=5, resolution=64, clip_frames=25, stride_frames=25)
DEMO = ClipSpec(fps=8, resolution=48, clip_frames=8, stride_frames=8)

X264_ARCHIVE = "bframes=3:b-pyramid=normal:keyint=60:open-gop=1:log-level=error"
X265_ARCHIVE = "bframes=4:b-pyramid=1:keyint=60:log-level=error"
RENDERED = {  # name: (codec, container extension, frame rate, encoder options, variable frame rate)
    "x264_bpyramid_opengop_30fps.mp4": ("libx264", 30, {"x264-params": X264_ARCHIVE}, False),
    "x264_bpyramid_29.97fps.mkv": ("libx264", fractions.Fraction(30000, 1001), {"x264-params": X264_ARCHIVE}, False),
    "x264_annexb_25fps.ts": ("libx264", 25, {"x264-params": X264_ARCHIVE}, False),
    "x264_variable_rate.mp4": ("libx264", 30, {"x264-params": X264_ARCHIVE}, True),
    "x265_bpyramid_24fps.mp4": ("libx265", 24, {"x265-params": X265_ARCHIVE}, False),
    "x264_no_bframes_30fps.mp4": ("libx264", 30, {"x264-params": "bframes=0:log-level=error"}, False),
}


def render(path, codec, rate, options, variable, seconds=6):
    """A moving coarse pattern with a cut at 2.5 s; with `variable`, frame durations drawn from 20-50 ms."""
    rng = np.random.default_rng(7)
    textures = [np.kron(rng.integers(0, 256, (9, 20, 3), dtype=np.uint8), np.ones((16, 16, 1), np.uint8))]
    textures.append(np.kron(rng.integers(0, 256, (9, 20, 3), dtype=np.uint8), np.ones((16, 16, 1), np.uint8)))
    count = int(seconds * rate)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = 192, 144, "yuv420p"
        if variable:
            stream.codec_context.time_base = fractions.Fraction(1, 1000)
        pts = 0
        for i in range(count):
            image = np.roll(textures[int(i >= count * 5 // 12)], 3 * i, axis=1)[:, :192]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if variable:
                frame.pts, frame.time_base = pts, fractions.Fraction(1, 1000)
                pts += int(rng.integers(20, 51))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sparse")
    return {name: render(folder / name, codec, rate, opts, vfr) for name, (codec, rate, opts, vfr) in RENDERED.items()}


def both_ways(path, spec):
    """(clips, facts) decoded with every frame and sparsely."""
    runs = []
    for sparse in (False, True):
        items = list(decode_video(str(path), spec, DecodeLimits(), DecodeOptions(sparse=sparse)))
        clips = [i for i in items if not isinstance(i, (Thumbnail, VideoInfo, VideoError))]
        runs.append((clips, items[-1]))
    return runs


def assert_same(path, spec):
    (full_clips, full_facts), (sparse_clips, sparse_facts) = both_ways(path, spec)
    assert type(full_facts) is type(sparse_facts), (full_facts, sparse_facts)
    if isinstance(full_facts, VideoInfo):
        assert full_facts._replace(shots=()) == sparse_facts._replace(shots=())
    else:
        assert full_facts == sparse_facts
    assert [k._replace(shot_seconds=()) for k, _ in full_clips] == [
        k._replace(shot_seconds=()) for k, _ in sparse_clips
    ]
    for (key, full), (_, sparse) in zip(full_clips, sparse_clips):
        assert np.array_equal(full, sparse), key  # frame for frame, bit for bit
    return len(full_clips)


def skipped(path, fps):
    """Frames the planner leaves undecoded, and the frames in the stream."""
    with av.open(str(path)) as container:
        stream = pick_video_stream(container)
        stream.thread_type = "AUTO"
        items = [
            i for i in decoded_frames(container, stream, sparse_planner(stream, fps)) if not isinstance(i, Exception)
        ]
    return sum(isinstance(i, SkippedFrame) for i in items), len(items)


@pytest.mark.parametrize("name", sorted(DECODABLE))
def test_the_shared_videos_decode_to_the_same_clips_and_facts(name):
    for spec in (A0, DEMO):
        assert assert_same(VIDEOS / name, spec) >= 1


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_rendered_b_frame_videos_give_the_same_clips_and_facts_with_a_third_or_more_left_undecoded(rendered, name):
    path = rendered[name]
    for spec in (A0, DEMO):
        assert assert_same(path, spec) >= 2
    left_out, frames = skipped(path, A0.fps)
    if "no_bframes" in name:
        assert left_out == 0  # every frame is a reference: nothing can be left out
    else:
        assert left_out >= frames / 3, (left_out, frames)


def test_codecs_without_a_reference_reader_decode_every_frame():
    for name in ("bear_vp9_161x121_odd.webm", "selfie_av1_aac.mp4", "swimming_person.gif"):
        with av.open(str(VIDEOS / name)) as container:
            assert sparse_planner(pick_video_stream(container), A0.fps) is None, name


def decoded_count(path, fps, every_nonref):
    with av.open(str(path)) as container:
        stream = pick_video_stream(container)
        items = [i for i in decoded_frames(container, stream, sparse_planner(stream, fps, every_nonref))]
    return sum(not isinstance(i, (SkippedFrame, Exception)) for i in items)


@pytest.mark.parametrize("name", ["x264_bpyramid_opengop_30fps.mp4", "x265_bpyramid_24fps.mp4"])
def test_fast_decoding_keeps_keys_and_facts_decodes_fewer_frames_and_changes_frames_a_little(rendered, name):
    """--fast_decode: every non-reference frame left out, ticks that show one take the frame decoded before it,
    no deblocking. Clip keys (but for the shots) and video facts stay those of decoding everything; the clips differ,
    each model frame less than two consecutive model frames (0.2 s apart) differ from each other."""
    path = rendered[name]
    runs = []
    for options in (DecodeOptions(), DecodeOptions(fast=True)):
        items = list(decode_video(str(path), A0, DecodeLimits(), options))
        runs.append(([i for i in items if not isinstance(i, (Thumbnail, VideoInfo, VideoError))], items[-1]))
    (full_clips, full_facts), (fast_clips, fast_facts) = runs
    assert full_facts._replace(shots=()) == fast_facts._replace(shots=())
    assert [k._replace(shot_seconds=()) for k, _ in full_clips] == [k._replace(shot_seconds=()) for k, _ in fast_clips]
    # The pattern moves 3 px a source frame: model frames 0.2 s apart differ by this much on average.
    step = np.mean([np.abs(a[1:].astype(int) - a[:-1].astype(int)).mean() for _, a in full_clips])
    diffs = [
        np.abs(f.astype(int) - e.astype(int)).mean(axis=(1, 2, 3)) for (_, e), (_, f) in zip(full_clips, fast_clips)
    ]
    assert max(d.max() for d in diffs) > 0  # fast is not exact
    assert max(d.max() for d in diffs) <= step, (max(d.max() for d in diffs), step)
    assert decoded_count(path, A0.fps, True) < decoded_count(path, A0.fps, False)
