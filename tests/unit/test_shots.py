"""The shot detector on synthetic videos rendered in NumPy (textured shots in motion, with the transitions and the
false positives the detector is meant for), and `thumbnail` on frames PyAV decoded."""

from pathlib import Path

import av
import numpy as np
import pytest

from vidlabel.transforms import shots

VIDEOS = Path(__file__).resolve().parents[3] / "shared" / "videos"
FPS = 25
WIDTH, HEIGHT = 96, 72


def smooth_noise(rng: np.random.Generator, size: int, scale: int, channels: int) -> np.ndarray:
    """Random values every `scale` pixels, bilinearly interpolated between: a smooth field of that grain."""
    knots = rng.uniform(-1, 1, (size // scale + 2, size // scale + 2, channels))
    position = np.arange(size) / scale
    whole, part = position.astype(int), (position % 1)[:, None]
    rows = knots[whole] * (1 - part[:, :, None]) + knots[whole + 1] * part[:, :, None]
    return rows[:, whole] * (1 - part[None, :, :]) + rows[:, whole + 1] * part[None, :, :]


def texture(seed: int, size: int = 4 * WIDTH) -> np.ndarray:
    """A square RGB float image with detail at every scale, stronger at coarse ones as in photographs."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(60, 200, 3) + 70 * smooth_noise(rng, size, 64, 3) + 40 * smooth_noise(rng, size, 16, 3)
    return np.clip(image + 25 * smooth_noise(rng, size, 4, 1), 0, 255)


class Shot:
    """A camera moving over a texture at `velocity` pixels per frame (x, y)."""

    def __init__(self, seed: int, velocity: tuple[int, int] = (1, 1)):
        self.canvas = texture(seed)
        self.velocity = velocity

    def frame(self, t: int) -> np.ndarray:
        size = self.canvas.shape[0]
        rows = (np.arange(HEIGHT) + t * self.velocity[1]) % size
        cols = (np.arange(WIDTH) + t * self.velocity[0]) % size
        return self.canvas[rows[:, None], cols[None, :]]


def shot(seed: int, frames: int, velocity: tuple[int, int] = (1, 1)) -> list[np.ndarray]:
    camera = Shot(seed, velocity)
    return [camera.frame(t) for t in range(frames)]


def fade(first: list[np.ndarray], second: list[np.ndarray], frames: int, level: float = 0.0) -> list[np.ndarray]:
    """`first` fades to `level` over `frames`, then `second` fades in over `frames`."""
    out = [a * (1 - t / frames) + level * t / frames for t, a in enumerate(first[-frames:], 1)]
    out += [b * (t / frames) + level * (1 - t / frames) for t, b in enumerate(second[:frames])]
    return first[:-frames] + out + second[frames:]


def dissolve(first: list[np.ndarray], second: list[np.ndarray], frames: int) -> list[np.ndarray]:
    """The last `frames` of `first` cross-fade into the first `frames` of `second` (overlapped)."""
    mixed = [
        a * (1 - t / (frames + 1)) + b * t / (frames + 1)
        for t, (a, b) in enumerate(zip(first[-frames:], second[:frames]), 1)
    ]
    return first[:-frames] + mixed + second[frames:]


def to_frame(rgb: np.ndarray, format: str = "yuv420p") -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.clip(rgb, 0, 255).astype(np.uint8), format="rgb24")
    return frame if format == "rgb24" else frame.reformat(format=format)


def detect(frames: list[np.ndarray], fps: float = FPS) -> list[shots.Cut]:
    detector = shots.ShotDetector(fps)
    cuts = []
    for i, rgb in enumerate(frames):
        cuts += detector.push(shots.thumbnail(to_frame(rgb)), i)
    return cuts + detector.finish()


def toned(camera: Shot, mean: np.ndarray, contrast: float) -> Shot:
    """The camera's texture recoloured to `mean` (per channel), its contrast scaled by `contrast`."""
    camera.canvas = mean + contrast * (camera.canvas - camera.canvas.mean(axis=(0, 1)))
    return camera


def still(seed: int, frames: int) -> list[np.ndarray]:
    """A still picture with a little noise on each frame, as an encoder leaves it."""
    rng = np.random.default_rng(seed)
    image = texture(seed)[:HEIGHT, :WIDTH]
    return [image + rng.normal(0, 2, image.shape) for _ in range(frames)]


def indices(cuts: list[shots.Cut]) -> list[int]:
    return [cut.frame_index for cut in cuts]


def test_hard_cuts_are_found_at_their_first_frame():
    frames = shot(1, 40) + shot(2, 30, (-1, 2)) + shot(3, 45, (2, 0)) + shot(4, 40)
    assert detect(frames) == [shots.Cut(40, "cut"), shots.Cut(70, "cut"), shots.Cut(115, "cut")]


def test_a_cut_between_shots_of_like_colours_is_found():
    first = Shot(3, (1, 1))
    toned(first, first.canvas.mean(axis=(0, 1)), 0.65)
    second = toned(Shot(4, (-1, 1)), first.canvas.mean(axis=(0, 1)), 0.65)  # 17% of the luma changes by over 20
    assert detect([first.frame(t) for t in range(40)] + [second.frame(t) for t in range(40)]) == [shots.Cut(40, "cut")]


def test_a_cut_that_changes_the_hue_but_not_the_brightness_is_found():
    """Two scenes of the same brightness everywhere, one in warm colours, one in cool (as a flat studio backdrop
    changing colour behind a moving object): the luma alone hardly changes."""
    grey = np.full((4 * WIDTH, 4 * WIDTH, 3), 100.0) + 15 * smooth_noise(np.random.default_rng(5), 4 * WIDTH, 16, 1)
    warm, cool = Shot(5), Shot(5, (-1, 1))
    warm.canvas, cool.canvas = grey * [1.3, 0.95, 0.6], grey * [0.75, 1.0, 1.45]  # about the same luma (BT.601)
    frames = [warm.frame(t) for t in range(40)] + [cool.frame(t) for t in range(40)]
    luma = [0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2] for f in frames[39:41]]
    assert np.mean(np.abs(luma[1] - luma[0]) > shots.MILD_CHANGED_LEVEL) < shots.CUT_MIN_CHANGED  # luma: no cut
    assert detect(frames) == [shots.Cut(40, "cut")]


@pytest.mark.parametrize("level", [0, 255], ids=["black", "white"])
def test_a_fade_is_one_boundary_inside_the_transition(level):
    cuts = detect(fade(shot(1, 50), shot(2, 50, (-1, 1)), 10, level))  # frames 40 to 59 fade out, then in
    assert [cut.kind for cut in cuts] == ["fade"] and 40 <= cuts[0].frame_index < 60


def test_a_black_hold_between_hard_cuts_is_one_boundary():
    black = [np.zeros((HEIGHT, WIDTH, 3))]
    assert indices(detect(shot(1, 50) + black * 3 + shot(2, 50))) in ([51], [52])
    cuts = detect(shot(1, 50) + black * 60 + shot(2, 50))  # longer than the lookahead: reported inside it
    assert [cut.kind for cut in cuts] == ["fade"] and 50 <= cuts[0].frame_index < 110


def test_fading_in_at_the_start_and_out_at_the_end_is_no_boundary():
    frames = [f * min(1.0, t / 15, (89 - t) / 15) for t, f in enumerate(shot(1, 90))]
    assert detect(frames) == []


@pytest.mark.parametrize("length", [12, 25])
def test_a_dissolve_is_one_boundary_inside_the_transition(length):
    frames = dissolve(shot(1, 60), shot(2, 60 + length, (-1, 1)), length)  # mixed from frame 60 - length to 59
    cuts = detect(frames)
    assert [cut.kind for cut in cuts] == ["dissolve"] and 60 - length <= cuts[0].frame_index < 60


def test_a_short_dissolve_between_moving_shots_is_found():
    frames = dissolve(shot(7, 60, (5, 0)), shot(9, 74, (0, 4)), 14)  # 0.47 s at 30 fps, mixed from 46 to 59
    cuts = detect(frames, fps=30)
    assert [cut.kind for cut in cuts] == ["dissolve"] and 46 <= cuts[0].frame_index < 60


def test_flashes_are_not_cuts():
    frames = shot(3, 120, (2, 1))
    frames[30] = 0.3 * frames[30] + 180  # one frame, most of the way to white
    frames[60:62] = [np.full_like(frames[0], 250)] * 2  # two white frames
    frames[90:93] = [0.5 * f + 120 for f in frames[90:93]]  # three bright frames
    assert detect(frames) == []


def test_a_flash_fading_back_to_the_scene_is_no_boundary():
    frames = shot(3, 120, (2, 1))
    frames[60] = np.full_like(frames[0], 250)  # blank, then brightened: 70%, then 40% of the way to white
    frames[61:63] = [0.3 * frames[61] + 0.7 * 255, 0.6 * frames[62] + 0.4 * 255]
    assert detect(frames) == []


def test_a_cut_behind_a_flash_is_still_found():
    white = [np.full((HEIGHT, WIDTH, 3), 250.0)]
    assert indices(detect(shot(1, 50) + white * 2 + shot(2, 50))) in ([50], [51], [52])


@pytest.mark.parametrize("velocity", [(3, 0), (0, 2), (12, 5)], ids=["pan", "tilt", "fast"])
def test_camera_motion_without_a_cut_gives_none(velocity):
    assert detect(shot(5, 150, velocity)) == []


def test_a_jerk_of_the_camera_is_not_a_cut():
    camera = Shot(4, (1, 0))
    assert detect([camera.frame(t if t < 50 else t + 12) for t in range(100)]) == []


def test_a_jolt_among_repeated_frames_is_not_a_cut():
    camera = toned(Shot(5, (1, 0)), np.full(3, 128.0), 2.0)
    frames = [camera.frame(3 * (t - t // 2) + (32 if t > 50 else 0)) for t in range(100)]  # each frame shown twice
    frames[50] = np.mean([camera.frame(3 * 25 + j) for j in range(0, 33, 2)], axis=0)  # jolted by 32 px, blurred
    assert detect(frames) == []


def test_each_change_of_a_slide_show_is_a_cut():
    frames = sum((still(10 + s, 25) for s in range(6)), [])
    assert detect(frames) == [shots.Cut(i, "cut") for i in (25, 50, 75, 100, 125)]


def test_a_countdown_changing_a_small_area_each_second_gives_no_cut():
    frames = shot(8, 150, (1, 0))
    for t, frame in enumerate(frames):
        digit = np.random.default_rng(t // FPS).integers(0, 2, (4, 3)) * 255.0
        frame[20:52, 36:60] = np.kron(digit, np.ones((8, 8)))[:, :, None]  # 11% of the picture
    assert detect(frames) == []


def test_frame_0_is_never_a_boundary():
    frames = [np.zeros((HEIGHT, WIDTH, 3))] * 5 + shot(1, 40)  # opens on black, cuts to a picture
    assert detect(frames) == []
    assert indices(detect(shot(2, 1) + shot(1, 40))) == [1]  # one odd frame first: the cut is after it


def test_boundaries_come_no_later_than_the_lookahead():
    frames = (
        shot(1, 40)
        + shot(2, 40)
        + fade(shot(3, 40), shot(4, 40), 8)
        + dissolve(shot(5, 40), shot(6, 40), 16)
        + [np.zeros((HEIGHT, WIDTH, 3))] * 70
        + shot(7, 40)
    )
    detector = shots.ShotDetector(FPS)
    returned_at = {}
    for i, rgb in enumerate(frames):
        for cut in detector.push(shots.thumbnail(to_frame(rgb)), i):
            returned_at[cut.frame_index] = i
            assert i <= cut.frame_index + detector.lookahead
    assert detector.finish() == []
    assert len(returned_at) == 5, returned_at


def test_memory_stays_bounded_over_a_long_video():
    detector = shots.ShotDetector(FPS)
    camera = Shot(1, (2, 1))
    thumbs = [shots.thumbnail(to_frame(camera.frame(t))) for t in range(50)]
    for i in range(5000):
        detector.push(thumbs[i % 50] if i % 400 else np.zeros_like(thumbs[0]), i)  # a black frame now and then
    held = sum(len(value) for value in vars(detector).values() if isinstance(value, (dict, list, tuple)))
    assert held <= 6 * 3 * detector.lookahead  # six stores of a few lookaheads each


def test_frames_must_come_in_order():
    detector = shots.ShotDetector()
    thumb = shots.thumbnail(to_frame(shot(1, 1)[0]))
    detector.push(thumb, 0)
    with pytest.raises(ValueError, match="frame 2 pushed where frame 1 was expected"):
        detector.push(thumb, 2)


@pytest.mark.parametrize(
    "pixel_format",
    ["yuv420p", "yuvj420p", "yuv444p", "nv12", "nv21", "gray", "rgb24", "bgra", "yuv420p10le", "yuyv422"],
)
@pytest.mark.parametrize("size", [(161, 121), (160, 120), (32, 18)], ids=["odd", "tiny", "thumbnail-sized"])
def test_thumbnail_reads_every_format_alike(pixel_format, size):
    width, height = size
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 2, :, 0] = 200
    rgb[height // 2 :, :, 2] = 200
    rgb[:, : width // 3, 1] = 120
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    reference = shots.thumbnail(frame.reformat(format="yuvj444p")).astype(int)
    thumb = shots.thumbnail(frame.reformat(format=pixel_format))
    assert thumb.shape == (3, shots.THUMB_HEIGHT, shots.THUMB_WIDTH) and thumb.dtype == np.uint8
    channels = 1 if pixel_format == "gray" else 3
    tolerance = 12 if pixel_format in ("yuvj420p", "yuv444p", "rgb24", "bgra") else 20  # range, chroma siting
    assert np.abs(thumb[:channels].astype(int) - reference[:channels]).mean() < tolerance


def encode(path: Path, frames: list[np.ndarray], codec: str, pixel_format: str) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pixel_format
        for rgb in frames:
            container.mux(stream.encode(to_frame(rgb, "rgb24").reformat(format=pixel_format)))
        container.mux(stream.encode())


def detect_in_file(path: Path) -> tuple[list[shots.Cut], str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        detector = shots.ShotDetector(float(stream.average_rate) if stream.average_rate else None)
        cuts = []
        for i, frame in enumerate(container.decode(stream)):
            cuts += detector.push(shots.thumbnail(frame), i)
            pixel_format = frame.format.name
    return cuts + detector.finish(), pixel_format


@pytest.mark.parametrize(
    ("name", "codec", "encoded_format", "decoded_format"),
    [("cuts.mp4", "libx264", "yuv420p", "yuv420p"), ("cuts.gif", "gif", "rgb8", "bgra")],
)
def test_cuts_in_an_encoded_video(tmp_path, name, codec, encoded_format, decoded_format):
    frames = shot(1, 30) + fade(shot(2, 30), shot(3, 30), 6) + shot(4, 30)
    flash = frames[45]
    frames[45] = 0.3 * flash + 180
    encode(tmp_path / name, frames, codec, encoded_format)
    cuts, pixel_format = detect_in_file(tmp_path / name)
    assert pixel_format == decoded_format
    assert [cut.kind for cut in cuts] == ["cut", "fade", "cut"]
    assert cuts[0].frame_index == 30 and 54 <= cuts[1].frame_index < 66 and cuts[2].frame_index == 90


@pytest.mark.parametrize(
    "name",
    ["countdown_10min_1fps.mkv", "swimming_person.gif", "bear_vp9_161x121_odd.webm", "neuro_mjpeg_160x120_3frames.avi"],
)
def test_shared_videos_without_cuts_give_none(name):
    assert detect_in_file(VIDEOS / name)[0] == []
