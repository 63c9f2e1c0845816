"""`vidlabel plot VIDEO --model M --out FILE.{gif,mp4,png}`: the tutorial's streaming prediction plot.

GIF/MP4: each frame of the video (at the model's rate) beside a bar chart of the top-k probabilities at that moment.
PNG: a timeline of the top classes' probabilities across the whole video, time in seconds.

With a stream or TFLite model the probabilities are per frame, states carried through the whole video (what the
tutorial plots); with a base model they are per clip, each clip scored as `vidlabel run` scores it. Frames are drawn
with matplotlib and encoded with PyAV as they are drawn, so memory stays bounded on any video length (matplotlib's
own GIF writer would keep every frame); the PNG keeps only the probability vectors.
"""

from __future__ import annotations

import argparse
import fractions
import os
from collections.abc import Iterator

import numpy as np

from vidlabel import movinet
from vidlabel.movinet.classifiers import load_classifier, softmax
from vidlabel.pipeline.plan import clip_spec
from vidlabel.transforms import clips
from vidlabel.transforms.decode import on_video_stream, sampled_frames, to_model_frame
from vidlabel.transforms.errors import EXIT_OK, UsageError
from vidlabel.transforms.rows import top_k_indices
from vidlabel.transforms.types import ClipSpec

DISPLAY_HEIGHT = 240  # pixels of the video panel


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidlabel plot", description=__doc__.split("\n")[0])
    p.add_argument("video", help="A video file (local or gs://).")
    p.add_argument("--model", required=True, help="As for `vidlabel run`.")
    p.add_argument("--out", required=True, help="FILE.gif or FILE.mp4 (animation) or FILE.png (timeline).")
    p.add_argument("--label_file", help="Class names, one a line (default: the model's own).")
    p.add_argument("--top_k", type=int, default=5)
    p.add_argument("--fps", type=float, help="Model frame rate (default: the model's own).")
    p.add_argument("--resolution", type=int, help="Model input side (default: the model's own).")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    kind = os.path.splitext(args.out)[1].lower().lstrip(".")
    if kind not in ("gif", "mp4", "png"):
        raise UsageError(f"--out {args.out}: give a .gif, .mp4 or .png file")
    located = movinet.locate_model(args.model)
    signature = movinet.read_signature(located.path, located.metadata.output_key)
    labels = movinet.load_labels(args.label_file, located)
    # The rules of `vidlabel run`, with non-overlapping clips of the model's length.
    spec = clip_spec(
        located.metadata, signature.input_shape, model_name=args.model, fps=args.fps, resolution=args.resolution
    )
    classifier = load_classifier(located.path, signature)
    timeline = probabilities_over_time(args.video, classifier, spec)
    how = "per frame, states carried" if classifier.streams else f"per clip of {spec.clip_frames / spec.fps:g} s"
    title = f"{os.path.basename(args.video)}: model {args.model} ({how})"
    if kind == "png":
        draw_timeline(((t, p) for t, _, p in timeline), labels, args.top_k, args.out, title)
    else:
        animate(timeline, labels, args.top_k, args.out, spec.fps, title)
    print(f"vidlabel plot: wrote {args.out}")
    return EXIT_OK


def probabilities_over_time(video: str, classifier, spec: ClipSpec) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """(seconds, upright display frame uint8 [h, w, 3], probabilities [C]) per model frame, decoded as it goes."""

    def sampled(container, stream):  # the stream `vidlabel run` labels, with the same fallback
        return sampled_frames(container, stream, spec.fps)

    ticks = ((frame, n) for frame, _, n in on_video_stream(video, sampled))
    expanded = ((frame, clips.model_input(to_model_frame(frame, spec))) for frame, n in ticks for _ in range(n))
    if classifier.streams:
        states = None
        for tick, (frame, model_frame) in enumerate(expanded):
            logits, states = classifier.logits(model_frame[None, None], states)
            yield tick / spec.fps, display_frame(frame), softmax(np.asarray(logits))[0]
    else:  # base model: score each clip, then show its frames with the clip's probabilities
        tick, pending = 0, []
        for item in expanded:
            pending.append((display_frame(item[0]), item[1]))
            if len(pending) == spec.clip_frames:
                yield from _score_clip(classifier, pending, tick, spec.fps)
                tick, pending = tick + len(pending), []
        if pending:
            yield from _score_clip(classifier, pending, tick, spec.fps)


def _score_clip(classifier, pending, first_tick, fps):
    logits, _ = classifier.logits(np.stack([m for _, m in pending])[None])
    probabilities = softmax(np.asarray(logits))[0]
    for i, (shown, _) in enumerate(pending):
        yield (first_tick + i) / fps, shown, probabilities


def display_frame(frame) -> np.ndarray:
    rotation = frame.rotation % 360
    width, height = clips.displayed_size(frame.width, frame.height, rotation)
    scaled_w = max(2, round(width * DISPLAY_HEIGHT / height / 2) * 2)
    stored_w, stored_h = clips.displayed_size(scaled_w, DISPLAY_HEIGHT, rotation)
    rgb = frame.reformat(width=stored_w, height=stored_h, format="rgb24").to_ndarray()
    return np.ascontiguousarray(clips.rotate_upright(rgb, rotation))


def animate(timeline, labels, k: int, out: str, fps: float, title: str) -> None:
    """Draws and encodes one output frame per model frame; nothing but the current frame is kept."""
    import av
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_video, ax_bars) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=80, gridspec_kw={"width_ratios": [1.2, 1]})
    fig.subplots_adjust(left=0.01, right=0.98, top=0.84, wspace=0.55)
    fig.suptitle(title, fontsize=9)
    ax_video.axis("off")
    ax_bars.set_xlim(0, 1)
    ax_bars.invert_yaxis()
    image = bars = None
    codec, pix_fmt = ("gif", "rgb8") if out.lower().endswith(".gif") else ("libx264", "yuv420p")
    rate = fractions.Fraction(fps).limit_denominator(1000)
    with av.open(out, "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.pix_fmt = pix_fmt
        for seconds, shown, probabilities in timeline:
            best = top_k_indices(probabilities, k)
            first = image is None
            if first:
                image = ax_video.imshow(shown)
                bars = ax_bars.barh(range(len(best)), probabilities[best], color="tab:blue")
                ax_bars.set_yticks(range(len(best)))
            else:
                image.set_data(shown)
                for bar, p in zip(bars, probabilities[best]):
                    bar.set_width(p)
            ax_bars.set_yticklabels([labels[i][:28] for i in best], fontsize=8)
            ax_video.set_title(f"{seconds:6.1f} s", fontsize=9)
            fig.canvas.draw()
            rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
            if first:  # even sizes: yuv420p halves them
                stream.width, stream.height = rgb.shape[1] // 2 * 2, rgb.shape[0] // 2 * 2
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb[: stream.height, : stream.width]), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    plt.close(fig)


def draw_timeline(timeline, labels, k: int, out: str, title: str) -> None:
    """A PNG of the classes that reach the highest probabilities, over the video's time in seconds. Values are drawn
    as steps: each holds until the next model frame (or, with a base model, over its whole clip), so no slope suggests
    a change the model did not report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, rows = zip(*((t, p.astype(np.float32)) for t, p in timeline))
    probabilities = np.stack(rows)  # [ticks, C] float32: the only thing kept of the video
    best = top_k_indices(probabilities.max(axis=0), k)  # the classes whose peak is highest
    fig, ax = plt.subplots(figsize=(11, 3.5), dpi=100)
    for i in best:
        ax.plot(times, probabilities[:, i], label=labels[i], linewidth=1.2, drawstyle="steps-post")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.set_xlim(times[0], times[-1])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the plot, not on it
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
