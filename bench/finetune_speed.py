"""Training speed of MoViNet A0 on CPU as `vidlabel finetune` trains it: the base network with Model Garden's own
grouped Conv3D layers, the same network inside `finetune.depthwise_layers_as_2d` (what `--mode base` uses), and
the causal (2+1)D stream network (the default `--mode stream`), side by side in one process.

    .venv/bin/python bench/finetune_speed.py [--frames 8] [--side 64] [--clips 48]
    .venv/bin/python bench/finetune_speed.py --augmentation [--clips 192] [--rounds 2]

Random clips and labels (speed does not depend on them), batch 8, Adam, one warm-up epoch (graph building), then
the best of two timed epochs; prints training clips/s for each and the ratios.

`--augmentation`: the cost of `finetune`'s augmentation, through `finetune.fit` itself (the stream network, its
tf.data pipeline, AdamW): training clips/s with `--augment on` and `off`, alternated `--rounds` times, best epoch
after the first of each.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def clips_per_second(mode: str, fast_layers: bool, frames: int, side: int, count: int) -> float:
    import contextlib

    import tf_keras

    from vidlabel.movinet.export import build_classifier
    from vidlabel.movinet.finetune import depthwise_layers_as_2d

    rng = np.random.default_rng(0)
    data = rng.random((count, frames, side, side, 3), dtype=np.float32)
    labels = rng.integers(0, 4, count)
    with depthwise_layers_as_2d() if fast_layers else contextlib.nullcontext():
        model = build_classifier("a0", mode, 4, 0, (None, frames, side, side, 3), external_states=False)
        model.compile(
            optimizer=tf_keras.optimizers.Adam(1e-3),
            loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(data, labels, batch_size=8, epochs=1, verbose=0)  # warm-up: tracing, XLA compilation
        times = []
        for _ in range(2):
            start = time.perf_counter()
            model.fit(data, labels, batch_size=8, epochs=1, verbose=0)
            times.append(time.perf_counter() - start)
    return count / min(times)


def augmentation_cost(frames: int, side: int, count: int, rounds: int) -> None:
    from vidlabel.movinet.augment import Augmentation, margin_frames
    from vidlabel.movinet.finetune import ClipSet, TrainingConfig, fit, training_model

    rng = np.random.default_rng(0)
    length = frames + margin_frames(frames, Augmentation())
    train = ClipSet(
        frames=rng.integers(0, 256, (count, length, side, side, 3), dtype=np.uint8),
        lengths=np.full(count, length, np.int32),
        labels=rng.integers(0, 4, count).astype(np.int32),
        videos=np.arange(count, dtype=np.int32),
    )
    empty = ClipSet(train.frames[:0], train.lengths[:0], train.labels[:0], train.videos[:0])
    config = TrainingConfig("a0", "stream", 8.0, side, frames, epochs=3, batch_size=8, learning_rate=1e-3, seed=0)
    speeds = {"on": [], "off": []}
    for _ in range(rounds):
        for setting in speeds:
            run = config._replace(augmentation=Augmentation(setting == "on"), patience=0)
            history = fit(training_model(run, 4, None), run, train, empty, log=lambda line: None)
            speeds[setting].append(count / min(row["seconds"] for row in history[1:]))
    on, off = max(speeds["on"]), max(speeds["off"])
    print(f"\nA0 stream, {frames}x{side}x{side} clips, batch 8, {count} clips per epoch, best of {rounds}")
    print("| augmentation | training clips/s | x off |")
    print("| --- | --- | --- |")
    print(f"| off | {off:.1f} | 1.00 |")
    print(f"| on | {on:.1f} | {on / off:.2f} |")
    print(f"(each round: {speeds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--augmentation", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.augmentation:
        return augmentation_cost(args.frames, args.side, args.clips, args.rounds)
    shape = (args.frames, args.side, args.clips)
    rows = {
        "base, grouped Conv3D (Model Garden as is)": clips_per_second("base", False, *shape),
        "base, depthwise_layers_as_2d (--mode base)": clips_per_second("base", True, *shape),
        "stream network (--mode stream)": clips_per_second("stream", True, *shape),
    }
    plain = next(iter(rows.values()))
    print(f"\nA0, {args.frames}x{args.side}x{args.side} clips, batch 8, {args.clips} clips per epoch")
    print("| network | training clips/s | x grouped Conv3D |")
    print("| --- | --- | --- |")
    for name, speed in rows.items():
        print(f"| {name} | {speed:.1f} | {speed / plain:.1f} |")


if __name__ == "__main__":
    main()
