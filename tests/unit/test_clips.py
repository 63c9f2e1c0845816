"""The pure rules of resampling, geometry and windowing, without PyAV or Beam."""

import numpy as np
import pytest

from vidlabel.movinet import variants
from vidlabel.transforms import clips, decode
from vidlabel.transforms.types import ClipSpec


def ticks_per_frame(fps, starts, end):
    sampler = clips.FrameSampler(fps)
    counts = [sampler.ticks_until(t) for t in starts[1:]] + [sampler.ticks_until(end)]
    return counts  # counts[i]: ticks frame i fills


def test_sampler_same_rate_keeps_every_frame():
    starts = [i / 5 for i in range(10)]
    assert ticks_per_frame(5, starts, 2.0) == [1] * 10


def test_sampler_downsamples_by_presentation_time():
    starts = [i / 30 for i in range(30)]  # 1 s at 30 fps -> 5 fps keeps frames 0, 6, 12, 18, 24
    counts = ticks_per_frame(5, starts, 1.0)
    assert [i for i, c in enumerate(counts) if c] == [0, 6, 12, 18, 24]
    assert sum(counts) == 5


def test_sampler_repeats_slow_frames():
    starts = [0.0, 1.0, 2.0]  # 1 fps -> 5 fps: each frame shown for 5 ticks
    assert ticks_per_frame(5, starts, 3.0) == [5, 5, 5]


def test_sampler_variable_frame_rate_picks_the_frame_on_screen():
    starts = [0.0, 0.05, 0.5, 0.55, 1.3]  # frame 2 is on screen from 0.5 to 0.55; frame 3 until 1.3
    counts = ticks_per_frame(5, starts, 1.5)
    # ticks at 0, .2, .4 -> frame 1 (.05 <= t < .5) except tick 0 (frame 0); .6 .8 1.0 1.2 -> frame 3; 1.4 -> frame 4
    assert counts == [1, 2, 0, 4, 1]


def test_sampler_tolerates_rounded_timestamps():
    starts = [0.0, 0.19999, 0.40001]  # a container rounding 1/5 s steps
    assert ticks_per_frame(5, starts, 0.6) == [1, 1, 1]


@pytest.mark.parametrize(
    "size, resize, expected",
    [
        ((320, 240), "crop", (229, 172)),
        ((240, 320), "crop", (172, 229)),
        ((161, 121), "crop", (229, 172)),
        ((320, 240), "stretch", (172, 172)),
        ((172, 172), "crop", (172, 172)),
    ],
)
def test_target_size(size, resize, expected):
    assert clips.target_size(*size, 172, resize) == expected


def test_target_size_rejects_unknown_mode():
    with pytest.raises(ValueError, match="crop"):
        clips.target_size(10, 10, 8, "pad")


def test_rotation_turns_counter_clockwise_and_swaps_displayed_size():
    image = np.arange(6).reshape(2, 3)  # stored 3 wide, 2 high
    assert clips.displayed_size(3, 2, 90) == (2, 3)
    turned = clips.rotate_upright(image, 90)
    assert turned.shape == (3, 2)
    assert turned[0].tolist() == [2, 5]  # the stored right column is on top after a counter-clockwise turn
    assert clips.rotate_upright(image, 0) is image


def test_centre_crop():
    image = np.arange(5 * 7).reshape(5, 7)
    assert clips.centre_crop(image, 3).tolist() == image[1:4, 2:5].tolist()


def frames(n):
    return [np.full((2, 2, 3), i, dtype=np.float32) for i in range(n)]


def cut(n, clip, stride):
    windower = clips.ClipWindower(clip, stride)
    out = []
    for i, f in enumerate(frames(n)):
        out.extend(windower.push(f, source_index=10 * i))
    out.extend(windower.finish())
    return out


def test_windower_non_overlapping_with_short_tail_unpadded():
    windows = cut(10, 4, 4)
    assert [(w.start, w.end) for w in windows] == [(0, 4), (4, 8), (8, 10)]
    assert [len(w.frames) for w in windows] == [4, 4, 2]
    assert windows[2].frames[:, 0, 0, 0].tolist() == [8, 9]
    assert (windows[1].source_start, windows[1].source_end) == (40, 70)
    assert [w.index for w in windows] == [0, 1, 2]


def test_windower_exact_multiple_has_no_empty_tail():
    assert [(w.start, w.end) for w in cut(8, 4, 4)] == [(0, 4), (4, 8)]


def test_windower_short_video_is_one_short_clip():
    windows = cut(3, 8, 8)
    assert [(w.start, w.end) for w in windows] == [(0, 3)]


def test_windower_overlapping_stride_covers_everything_once_at_the_end():
    windows = cut(10, 4, 2)
    assert [(w.start, w.end) for w in windows] == [(0, 4), (2, 6), (4, 8), (6, 10)]
    windows = cut(11, 4, 2)
    assert [(w.start, w.end) for w in windows] == [(0, 4), (2, 6), (4, 8), (6, 10), (8, 11)]


def test_windower_stride_longer_than_clip_skips_gaps():
    assert [(w.start, w.end) for w in cut(11, 2, 4)] == [(0, 2), (4, 6), (8, 10)]


def test_windower_holds_a_full_clip_until_the_next_frame():
    windower = clips.ClipWindower(2, 2)
    assert list(windower.push(frames(1)[0], 0)) == []
    assert list(windower.push(frames(2)[1], 1)) == []  # complete, but its end is not yet known to be inside
    released = list(windower.push(frames(3)[2], 2))
    assert [(w.start, w.end) for w in released] == [(0, 2)]


def test_clip_frame_count():
    assert variants.clip_frame_count(10, 5) == 50 == variants.published_clip_frames(5)
    assert variants.clip_frame_count(0.1, 5) == 1
    assert variants.clip_frame_count(1.7, 5) == 9
    assert variants.clip_frame_count(0.5, 5) == 3  # halves round up, where round() would give 2


def cut_at(n, clip, stride, cuts, shortest):
    """Windows of n frames with shots starting at the frames in `cuts` (--windows shots)."""
    windower = clips.ClipWindower(clip, stride)
    out = []
    for i, f in enumerate(frames(n)):
        if i in cuts:
            out.extend(windower.cut(shortest))
        out.extend(windower.push(f, source_index=i))
    out.extend(windower.finish())
    return [(w.start, w.end) for w in out]


def test_windower_cut_ends_the_clip_at_the_shot_and_restarts_there():
    assert cut_at(12, 4, 4, {6}, shortest=2) == [(0, 4), (4, 6), (6, 10), (10, 12)]
    assert cut_at(12, 4, 4, {4}, shortest=2) == [(0, 4), (4, 8), (8, 12)]  # a cut on a clip boundary changes nothing


def test_windower_cut_keeps_a_too_short_piece_with_the_next_shot():
    assert cut_at(12, 4, 4, {5}, shortest=2) == [(0, 4), (4, 8), (8, 12)]  # 1 frame of shot 0 joins shot 1's clip
    assert cut_at(12, 4, 4, {2, 3}, shortest=2) == [(0, 2), (2, 6), (6, 10), (10, 12)]


def test_windower_cut_with_overlapping_stride_adds_no_clip_for_covered_frames():
    assert cut_at(10, 4, 2, {5}, shortest=1) == [(0, 4), (2, 5), (5, 9), (7, 10)]
    windows = clips.ClipWindower(4, 2)
    for i, f in enumerate(frames(5)):
        list(windows.push(f, i))
    [tail] = list(windows.cut(1))
    assert (tail.start, tail.end, tail.new_from) == (2, 5, 4)  # frames 2-3 were in clip (0, 4): only 4 is new


def test_windower_records_the_source_frame_of_every_tick():
    windower = clips.ClipWindower(3, 3)
    out = [w for i, f in enumerate(frames(3)) for _ in range(2) for w in windower.push(f, 10 + i)]
    out += list(windower.finish())
    assert [w.sources for w in out] == [(10, 10, 11), (11, 12, 12)]


def test_second_marks_are_the_first_new_tick_of_each_whole_second():
    # 5 fps, a clip of ticks [10, 20): seconds 2 and 3 start at ticks 10 and 15
    assert clips.second_marks(10, 10, 20, 5.0) == ((0, 2.0), (5, 3.0))
    assert clips.second_marks(10, 16, 20, 5.0) == ()  # ticks 10-15 were in the clip before: second 3 is there
    assert clips.second_marks(0, 0, 10, 2.5) == ((0, 0.0), (3, 1.2), (5, 2.0), (8, 3.2))  # 1 s = 2.5 ticks


def test_shortest_scored_shot_piece_is_1_s_or_half_a_clip():
    def shortest(clip_frames, fps=5.0):
        return decode.shortest_shot_frames(ClipSpec(fps, 172, clip_frames=clip_frames, stride_frames=clip_frames))

    assert shortest(50) == 5  # 10-s clips: a piece under 1 s joins the next shot
    assert shortest(5) == 3  # 1-s clips: half a clip, or shots would never end one
    assert shortest(1) == 1
    assert shortest(60, fps=12.0) == 12
    # So 1-s clips at 5 fps do end at a cut 3 frames in, and a 2-frame piece joins the next shot.
    assert cut_at(10, 5, 5, {3}, shortest=3) == [(0, 3), (3, 8), (8, 10)]
    assert cut_at(10, 5, 5, {2}, shortest=3) == [(0, 5), (5, 10)]
