"""DecodeClips on the real shared videos, called directly (setup/process) with no pipeline, as Beam's own DoFn
tests do; preprocessing is checked against independent references (TensorFlow's resize, FFmpeg's autorotation)."""

import fractions
import io
import shutil
import subprocess

import apache_beam as beam
import av
import numpy as np
import pytest

from vidlabel.transforms.clips import model_input
from vidlabel.transforms.decode import VIDEO_ERROR, VIDEO_INFO, DecodeClips, codec_name, decode_video, to_model_frame
from vidlabel.transforms.types import (
    ClipSpec,
    DecodeLimits,
    DecodeOptions,
    Thumbnail,
    VideoError,
    VideoFile,
    VideoInfo,
)

from conftest import DECODABLE, UNDECODABLE, VIDEOS

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
    facts = (info.width, info.height, info.rotation, info.codec, info.pix_fmt, info.bit_depth, info.stream_index)
    assert facts == (340, 256, 0, "h264", "yuv420p", 8, 0)
    assert info.num_frames == 280
    assert info.duration_s == pytest.approx(10.0)
    assert info.source_fps == pytest.approx(28.0)
    assert info.num_clips == 7  # 10 s at 5 fps = 50 frames = 6 clips of 8 + a tail of 2


def test_ten_minute_one_fps_video_repeats_frames_to_the_model_rate():
    clips, done = decode(
        VIDEOS / "countdown_10min_1fps.mkv", ClipSpec(fps=2, resolution=32, clip_frames=20, stride_frames=20)
    )
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
        check=True,
        capture_output=True,
    ).stdout
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


# --- which stream is labelled, and what the videos table says of it ---------------------------------------------------

# The codec of each shared video as ffprobe names it (MANIFEST.md).
SHARED_CODECS = {
    "anet_clean_and_jerk_h264.mp4": "h264",
    "bbb_vp8_vorbis_1s.webm": "vp8",
    "bear_vp9_161x121_odd.webm": "vp9",
    "countdown_10min_1fps.mkv": "h264",
    "k400_arm_wrestling_h264.mp4": "h264",
    "mug_rotate270_h264.mp4": "h264",
    "neuro_mjpeg_160x120_3frames.avi": "mjpeg",
    "selfie_av1_aac.mp4": "av1",
    "swimming_person.gif": "gif",
}


def decode_here(path, spec=SPEC):
    """`decode_video` in this process: (clips, then its VideoInfo or VideoError)."""
    *clips, done = decode_video(str(path), spec, DecodeLimits())
    return clips, done


def best_stream(path) -> int:
    """The index of the video stream FFmpeg's `av_find_best_stream` chooses."""
    with av.open(str(path)) as container:
        return container.streams.best("video").index


def pyav_frames(path, stream_index: int) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams[stream_index]))


def ffmpeg_frames(path, stream_index: int) -> int:
    """Frames FFmpeg's command line decodes from one stream of the file (framecrc writes a line per frame)."""
    lines = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            f"0:{stream_index}",
            "-fps_mode",
            "passthrough",
            "-f",
            "framecrc",
            "-",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return sum(1 for line in lines if line and not line.startswith("#"))


def add_video(container, codec: str, pix_fmt: str, rate: int = 10):
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
    return stream


def encode(container, stream, count: int, seed: int = 0) -> None:
    """`count` frames of seeded noise (a few KiB each, so that a cut file loses frames), then the encoder's flush."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), np.uint8), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


@pytest.mark.parametrize("extension", ["mp4", "mkv"])
def test_a_still_before_the_video_is_not_what_is_labelled(tmp_path, extension):
    """A one-frame MJPEG track first, the real H.264 track second and flagged as the default: FFmpeg's players show
    the H.264 track, and so does vidlabel (taking the first video stream labelled the still)."""
    path = tmp_path / f"still_then_video.{extension}"
    with av.open(str(path), "w") as container:
        still = add_video(container, "mjpeg", "yuvj420p", rate=1)
        video = add_video(container, "libx264", "yuv420p")
        still.disposition, video.disposition = av.stream.Disposition(0), av.stream.Disposition.default
        encode(container, still, 1)
        encode(container, video, 20)
    assert best_stream(path) == 1
    clips, info = decode_here(path)
    assert isinstance(info, VideoInfo) and clips
    assert (info.stream_index, info.codec, info.num_frames, info.duration_s) == (1, "h264", 20, pytest.approx(2.0))
    if shutil.which("ffmpeg"):
        assert ffmpeg_frames(path, info.stream_index) == 20


def test_a_cut_asf_file_whose_packets_are_all_in_its_third_video_stream(tmp_path):
    """ASF declares every stream in its header: two video streams that never got a packet, then the real one; the
    file is cut in the middle. FFmpeg plays the third stream's first half, and vidlabel labels it."""
    path = tmp_path / "three_streams.wmv"
    with av.open(str(path), "w", format="asf") as container:
        add_video(container, "mjpeg", "yuvj420p")
        add_video(container, "mjpeg", "yuvj420p")
        encode(container, add_video(container, "libx264", "yuv420p"), 40)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    frames = pyav_frames(path, 2)
    assert best_stream(path) == 2 and 0 < frames < 40
    clips, info = decode_here(path)
    assert isinstance(info, VideoInfo) and clips
    assert (info.stream_index, info.codec, info.num_frames) == (2, "h264", frames)
    if shutil.which("ffmpeg"):
        assert ffmpeg_frames(path, 2) == frames


def write_broken_default_stream(path, with_video: bool) -> None:
    """MKV: stream 0 declared and never given a packet; stream 1 the default, every packet garbage (the stream
    `av_find_best_stream` chooses); stream 2, if any, 20 frames of H.264."""
    with av.open(str(path), "w") as container:
        add_video(container, "mjpeg", "yuvj420p")
        broken = add_video(container, "mjpeg", "yuvj420p")
        broken.disposition = av.stream.Disposition.default
        video = add_video(container, "libx264", "yuv420p") if with_video else None
        for i in range(10):
            packet = av.Packet(bytes(range(256)) * 4)
            packet.stream, packet.pts, packet.dts, packet.duration = broken, i, i, 1
            packet.time_base, packet.is_keyframe = fractions.Fraction(1, 10), True
            container.mux(packet)
        if video is not None:
            encode(container, video, 20)


def test_a_stream_that_gives_no_frame_gives_way_to_the_others_in_index_order(tmp_path):
    path = tmp_path / "broken_default.mkv"
    write_broken_default_stream(path, with_video=True)
    assert best_stream(path) == 1
    clips, info = decode_here(path)
    assert isinstance(info, VideoInfo)
    assert (info.stream_index, info.codec, info.num_frames, info.num_clips) == (2, "h264", 20, len(clips))
    assert clips[0][0].start_s == 0.0 and clips[-1][0].end_s == pytest.approx(2.0)


def test_no_frame_from_any_stream_is_one_error_naming_the_chosen_streams_failure(tmp_path):
    path = tmp_path / "all_broken.mkv"
    write_broken_default_stream(path, with_video=False)
    clips, error = decode_here(path)
    assert clips == [] and isinstance(error, VideoError)
    assert (error.stage, error.error_class) == ("decode", "NoFrameError")
    assert error.message.startswith("no video frame could be decoded: 10 packets failed")
    assert error.message.endswith("the file's other video streams gave none either")


@pytest.mark.parametrize("name", sorted(DECODABLE))
def test_codec_names_and_the_decoded_pixel_format(name):
    """The codec's name, not the decoder's (PyAV decodes AV1 with libdav1d), and the format of the frames as
    PyAV decodes them: the shared videos are all 8-bit, with their video as stream 0."""
    _, info = decode_here(VIDEOS / name)
    assert (info.codec, info.bit_depth, info.stream_index) == (SHARED_CODECS[name], 8, 0)
    assert info.pix_fmt == first_frame(VIDEOS / name).format.name


def test_ten_bit_video_says_so(tmp_path):
    if "yuv420p10le" not in {f.name for f in av.codec.Codec("libx264", "w").video_formats}:
        pytest.skip("this PyAV's libx264 encodes no 10-bit video")
    path = tmp_path / "ten_bit.mp4"
    with av.open(str(path), "w") as container:
        encode(container, add_video(container, "libx264", "yuv420p10le"), 10)
    _, info = decode_here(path)
    assert (info.codec, info.pix_fmt, info.bit_depth, info.num_frames) == ("h264", "yuv420p10le", 10, 10)


def test_codec_name_maps_decoder_and_encoder_names_to_the_codec():
    names = {
        "libdav1d": "av1",
        "libaom-av1": "av1",
        "av1": "av1",
        "h264": "h264",
        "libx264": "h264",
        "libvpx-vp9": "vp9",
        "vp9": "vp9",
        "libvpx": "vp8",
        "mjpeg": "mjpeg",
        "gif": "gif",
    }
    assert {name: codec_name(name) for name in names} == names
    assert codec_name("no-such-decoder") == "no-such-decoder"


def test_thumbnails_come_from_the_decoding_pass_upright_and_on_schedule():
    """Through the decoder process as `vidlabel run` uses it: without cuts, one 0.5 s in (1.0 s on a 1-fps video)
    and one every N seconds after it; a rotated video's thumbnail is upright (portrait, as its VideoInfo says) and
    is the frame the model sees, turned the same way; without the setting there are none."""
    from PIL import Image

    fn = DecodeClips(SPEC, options=DecodeOptions(thumbnails_every_s=10.0))
    fn.setup()
    try:
        thumbs, infos = {}, {}
        for name in ("countdown_10min_1fps.mkv", "mug_rotate270_h264.mp4", "zero_bytes.webm"):
            out = list(fn.process(VideoFile(str(VIDEOS / name), None, None)))
            thumbs[name] = [o.value for o in out if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == "thumbnail"]
            infos[name] = [o.value for o in out if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == VIDEO_INFO]
    finally:
        fn.teardown()
    assert [t.time_s for t in thumbs["countdown_10min_1fps.mkv"]] == [1.0 + 10 * i for i in range(60)]
    assert thumbs["zero_bytes.webm"] == []
    (mug,) = thumbs["mug_rotate270_h264.mp4"]
    (info,) = infos["mug_rotate270_h264.mp4"]
    assert (mug.width, mug.height) == (108, 192) and info.width / info.height == pytest.approx(108 / 192, abs=0.01)
    picture = np.asarray(Image.open(io.BytesIO(mug.jpeg)).convert("RGB").resize((64, 64), Image.BILINEAR), float)
    with av.open(str(VIDEOS / "mug_rotate270_h264.mp4")) as container:
        frame = next(f for f in container.decode(video=0) if f.time >= mug.time_s - 1e-6)
        model_frame = to_model_frame(frame, SPEC._replace(resolution=64, resize="stretch")).astype(float)
    assert np.abs(picture - model_frame).mean() < 12  # the same picture, the same way up
    assert np.abs(picture - np.rot90(model_frame, 2)).mean() > 2 * np.abs(picture - model_frame).mean()
    assert not any(
        isinstance(i, Thumbnail) for i in decode_video(str(VIDEOS / "bbb_vp8_vorbis_1s.webm"), SPEC, DecodeLimits())
    )
