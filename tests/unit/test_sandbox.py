"""The decoder child process on real videos: clips then one VideoInfo per video, one child for many videos."""

import signal

import numpy as np

from vidlabel.transforms.sandbox import DecoderProcess, describe_exit
from vidlabel.transforms.types import ClipKey, ClipSpec, DecodeLimits, ShotSpan, VideoError, VideoInfo

from conftest import VIDEOS

MJPEG = str(VIDEOS / "neuro_mjpeg_160x120_3frames.avi")  # 3 frames at 10 fps
# At the file's own rate every frame is one model frame: two clips, of 2 frames and a 1-frame tail.
SPEC = ClipSpec(fps=10, resolution=32, clip_frames=2, stride_frames=2)


def test_a_real_video_decodes_into_clips_then_one_video_info_and_the_child_is_reused():
    decoder = DecoderProcess(SPEC, DecodeLimits(timeout_s=60))
    try:
        *clips, info = decoder.decode(MJPEG)
        assert [key for key, _ in clips] == [
            ClipKey(MJPEG, 0, 0.0, 0.2, 0, 1, shot_seconds=((0, 0.2),), second_marks=((0, 0.0),)),
            ClipKey(MJPEG, 1, 0.2, 0.3, 2, 2, shot_seconds=((0, 0.3 - 0.2),)),  # all of the clip: end_s - start_s
        ]
        assert [frames.shape for _, frames in clips] == [(2, 32, 32, 3), (1, 32, 32, 3)]
        assert all(frames.dtype == np.uint8 for _, frames in clips)
        assert isinstance(info, VideoInfo) and (info.width, info.height, info.codec) == (160, 120, "mjpeg")
        assert (info.num_frames, info.num_clips) == (3, 2)
        assert info.shots == (ShotSpan(0, 0.0, info.duration_s, 0, 2),)  # one shot: the whole video

        [error] = decoder.decode(str(VIDEOS / "zero_bytes.webm"))  # a bad file: one error, from the same child
        assert isinstance(error, VideoError) and error.stage == "open"
        assert decoder.restarts == 0
    finally:
        decoder.close()


def test_a_caller_that_stops_early_gets_a_fresh_child_and_no_stale_clips():
    decoder = DecoderProcess(SPEC._replace(fps=1), DecodeLimits(timeout_s=60))
    try:
        ten_minutes = str(VIDEOS / "countdown_10min_1fps.mkv")
        video = decoder.decode(ten_minutes)
        key, _ = next(video)
        video.close()  # the child is still sending this video's clips
        assert key.video_uri == ten_minutes and decoder.restarts == 1
        *clips, info = decoder.decode(MJPEG)
        assert {key.video_uri for key, _ in clips} == {MJPEG} and info.video_uri == MJPEG
    finally:
        decoder.close()


def test_describe_exit_says_how_the_decoder_ended():
    killed = describe_exit(-signal.SIGKILL)
    assert killed.startswith("the decoder process crashed on this file with SIGKILL") and "out-of-memory" in killed
    assert describe_exit(-signal.SIGSEGV) == "the decoder process crashed on this file with SIGSEGV"
    assert describe_exit(3) == "the decoder process exited with status 3 while decoding this file"
    # A real-time signal has no name: still a sentence, never an exception that would fail the job.
    assert (
        describe_exit(-(signal.SIGRTMIN + 5))
        == f"the decoder process crashed on this file with signal {signal.SIGRTMIN + 5}"
    )
