"""DecodeClips on the real shared videos, called directly (setup/process) with no pipeline, as Beam's own DoFn
tests do; preprocessing is checked against independent references (TensorFlow's resize, FFmpeg's autorotation)."""
import shutil
import subprocess

import apache_beam as beam
import av
import numpy as np
import pytest

from conftest import DECODABLE, UNDECODABLE, VIDEOS
from vidlabel.transforms.clips import model_input
from vidlabel.transforms.decode import to_model_frame
from vidlabel.transforms.sandbox import VIDEO_ERROR, VIDEO_INFO, DecodeClips
from vidlabel.transforms.types import ClipSpec, VideoError, VideoFile, VideoInfo

SPEC = ClipSpec(fps=5, resolution=32, clip_frames=8, stride_frames=8)


def decode(path, spec=SPEC):
    fn = DecodeClips(spec)
    fn.setup()
    clips, tagged = [], []
    try:
        for out in fn.process(VideoFile(str(path), None, None)):
            (tagged if isinstance(out, beam.pvalue.TaggedOutput) else clips).append(out)
    finally:
        fn.teardown()
    assert len(tagged) == 1, "exactly one VideoInfo or VideoError per video"
    return clips, tagged[0]


@pytest.mark.parametrize("name", sorted(DECODABLE))
def test_decodable_videos_give_clips_covering_the_video(name):
    clips, done = decode(VIDEOS / name)
    assert done.tag == VIDEO_INFO
    info: VideoInfo = done.value
    assert info.num_clips == len(clips) >= 1
    keys = [k for k, _ in clips]
    assert [k.clip_index for k in keys] == list(range(len(keys)))
    assert keys[0].start_s == 0.0
    for a, b in zip(keys, keys[1:]):
        assert a.end_s == pytest.approx(b.start_s)  # contiguous: no gap, no overlap by default
    assert keys[-1].end_s == pytest.approx(info.duration_s)
    for key, frames in clips:
        assert frames.dtype == np.uint8 and frames.shape[1:] == (32, 32, 3)
        assert 1 <= frames.shape[0] <= SPEC.clip_frames
        assert key.start_frame <= key.end_frame < info.num_frames
    assert all(f.shape[0] == SPEC.clip_frames for _, f in clips[:-1])  # only the last clip may be short


def test_video_facts():
    _, done = decode(VIDEOS / "k400_arm_wrestling_h264.mp4")
    info = done.value
    assert (info.width, info.height, info.rotation, info.codec, info.num_frames) == (340, 256, 0, "h264", 280)
    assert info.duration_s == pytest.approx(10.0)
    assert info.source_fps == pytest.approx(28.0)
    assert info.num_clips == 7  # 10 s at 5 fps = 50 frames = 6 clips of 8 + a tail of 2


def test_ten_minute_one_fps_video_repeats_frames_to_the_model_rate():
    clips, done = decode(VIDEOS / "countdown_10min_1fps.mkv", ClipSpec(fps=2, resolution=32, clip_frames=20, stride_frames=20))
    assert done.value.duration_s == pytest.approx(600.0)
    assert len(clips) == 60  # 1200 ticks / 20
    key, frames = clips[1]
    assert (key.start_s, key.end_s, key.start_frame, key.end_frame) == (10.0, 20.0, 10, 19)
    np.testing.assert_array_equal(frames[0], frames[1])  # one source frame, two ticks


@pytest.mark.parametrize("name", sorted(UNDECODABLE))
def test_undecodable_videos_give_one_error_and_no_clip(name):
    clips, done = decode(VIDEOS / name)
    assert clips == []
    assert done.tag == VIDEO_ERROR
    error: VideoError = done.value
    assert error.message and error.error_class


def test_error_messages_say_what_is_wrong():
    assert "no video stream" in decode(VIDEOS / "opus_audio_only.mp4")[1].value.message
    assert "not a readable video" in decode(VIDEOS / "zero_bytes.webm")[1].value.message
    assert "no video frame could be decoded" in decode(VIDEOS / "vp9_invalid_bitstream.webm")[1].value.message
    assert decode(VIDEOS / "does_not_exist.mp4")[1].value.message == "file not found"


def test_truncated_and_non_video_files(tmp_path):
    data = (VIDEOS / "k400_arm_wrestling_h264.mp4").read_bytes()
    (tmp_path / "head.mp4").write_bytes(data[: len(data) // 2])  # moov atom at the end: unreadable
    webm = (VIDEOS / "bbb_vp8_vorbis_1s.webm").read_bytes()
    (tmp_path / "cut.webm").write_bytes(webm[: len(webm) * 2 // 3])  # a WebM cut short still plays its start
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 100)
    assert decode(tmp_path / "head.mp4")[1].tag == VIDEO_ERROR
    assert decode(tmp_path / "notes.mp4")[1].tag == VIDEO_ERROR
    clips, done = decode(tmp_path / "cut.webm")
    assert done.tag == VIDEO_INFO and 0 < done.value.num_frames < 24 and clips


def first_frame(path):
    with av.open(str(path)) as container:
        return next(container.decode(video=0))


@pytest.mark.parametrize("name", ["k400_arm_wrestling_h264.mp4", "bbb_vp8_vorbis_1s.webm", "selfie_av1_aac.mp4"])
def test_preprocessing_matches_tensorflow_resize_and_centre_crop(name):
    """Reference: PyAV's full-size RGB frame, tf.image.resize (bilinear, antialiased) of the short side to 172,
    then a centre crop: the Model Garden evaluation preprocessing. Tolerance: mean |diff| <= 0.01 and 99th
    percentile <= 0.06 on the [0, 1] scale (swscale and TensorFlow filter slightly differently)."""
    tf = pytest.importorskip("tensorflow")
    frame = first_frame(VIDEOS / name)
    ours = model_input(to_model_frame(frame, ClipSpec(5, 172, 8, 8, "crop")))
    full = frame.to_ndarray(format="rgb24").astype(np.float32) / 255
    h, w = full.shape[:2]
    scale = 172 / min(h, w)
    th, tw = max(172, round(h * scale)), max(172, round(w * scale))
    ref = tf.image.resize(full, (th, tw), method="bilinear", antialias=True).numpy()
    top, left = (th - 172) // 2, (tw - 172) // 2
    diff = np.abs(ref[top : top + 172, left : left + 172] - ours)
    assert diff.mean() <= 0.01 and np.percentile(diff, 99) <= 0.06


def test_stretch_resize_is_the_tutorials_plain_resize():
    tf = pytest.importorskip("tensorflow")
    frame = first_frame(VIDEOS / "bbb_vp8_vorbis_1s.webm")
    ours = model_input(to_model_frame(frame, ClipSpec(5, 172, 8, 8, "stretch")))
    full = frame.to_ndarray(format="rgb24").astype(np.float32) / 255
    ref = tf.image.resize(full, (172, 172), method="bilinear", antialias=True).numpy()
    assert ours.shape == (172, 172, 3) and np.abs(ref - ours).mean() <= 0.01


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command (apt-get install ffmpeg)")
def test_rotated_video_comes_out_upright_as_ffmpeg_shows_it():
    """FFmpeg's command line turns frames upright by their display matrix; vidlabel must agree."""
    path = VIDEOS / "mug_rotate270_h264.mp4"
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    upright = np.frombuffer(raw, np.uint8).reshape(320, 180, 3).astype(np.float32) / 255  # displayed 180x320
    ours = model_input(to_model_frame(first_frame(path), ClipSpec(5, 180, 8, 8, "crop")))  # short side 180: no scaling
    reference = upright[70:250]  # the same centre crop
    assert np.abs(ours - reference).mean() < 0.02
    assert np.abs(ours - reference[::-1, ::-1]).mean() > 0.05  # and clearly not upside down


def test_rotation_recorded_and_displayed_size_swapped():
    _, done = decode(VIDEOS / "mug_rotate270_h264.mp4")
    assert (done.value.width, done.value.height, done.value.rotation) == (180, 320, 90)


def test_a_timestamp_jump_is_a_discontinuity_not_days_of_one_frame(tmp_path):
    """A damaged stream whose timestamps jump by a day must not become a day of one repeated frame to score."""
    import fractions

    path = tmp_path / "jump.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        stream.time_base = fractions.Fraction(1, 1000)
        for i, pts in enumerate([0, 1000, 2000, 86_400_000, 86_401_000]):  # the fourth frame a day later
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, fractions.Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    clips, done = decode(path, ClipSpec(fps=1, resolution=32, clip_frames=8, stride_frames=8))
    assert done.tag == VIDEO_INFO and done.value.num_frames == 5
    assert done.value.duration_s == pytest.approx(5.0)  # five frames of one second each
    assert sum(len(frames) for _, frames in clips) == 5
