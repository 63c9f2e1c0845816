"""The variants as data, and the one clip-length rule every clip setting goes through."""

from vidlabel.movinet import variants


def test_variants_have_model_gardens_rates_and_resolutions():
    specs = {name: (spec.fps, spec.resolution) for name, spec in variants.MOVINET_VARIANTS.items()}
    assert specs == {"a0": (5, 172), "a1": (5, 172), "a2": (5, 224), "a3": (12, 256), "a4": (8, 290), "a5": (12, 320)}


def test_clip_frames_round_to_the_nearest_frame_halves_up_and_never_to_zero():
    assert variants.clip_frame_count(2.0, 5) == 10
    assert variants.clip_frame_count(0.5, 5) == 3  # 2.5 frames
    assert variants.clip_frame_count(0.45, 5) == 2  # 2.25 frames
    assert variants.clip_frame_count(0.01, 5) == 1


def test_published_clips_are_ten_seconds_at_the_models_rate():
    assert [variants.published_clip_frames(s.fps) for s in variants.MOVINET_VARIANTS.values()] == [
        50,
        50,
        50,
        120,
        80,
        120,
    ]
