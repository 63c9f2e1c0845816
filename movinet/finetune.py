"""Fine-tuning MoViNet on labelled videos (`vidlabel finetune`), for `vidlabel run --model OUT`.

This is the fine-tuning section of the MoViNet tutorial, with vidlabel's own reading of the videos:
1. The data is `DATA/<class>/<videos>` (one sub-folder per class) or a CSV manifest of `uri,label` lines, local or
   gs://. A seeded, per-class split keeps `--validation_split` of each class's videos for validation.
2. Clips are decoded by the very generator `vidlabel run` uses (`decode.video_clips`: PyAV, resampling by
   presentation time, rotation, short side + centre crop), so the model is trained on exactly what it is later fed.
   Training clips start every half clip and are decoded a margin longer, room for augmentation (`augment.py`: a
   random start, playback speed, crop, a still frame of another clip, colour and noise, on by default; flips and
   reversal opt-in); validation clips are cut as `vidlabel run` cuts them.
3. The network is Model Garden's MoViNet classifier. By default the causal (2+1)D network of the stream models
   (`--mode stream`), the fastest to train on CPU; the 3D base network (`--mode base`) trains with its depthwise 3D
   convolutions in per-tap 2D form (`depthwise_layers_as_2d`). Both are built as the tutorial builds them for
   training (no external states). Weights start from `--init` (a Model Garden checkpoint, a MoViNet
   SavedModel folder, alias or hub handle: its backbone is kept and a new head is trained) or from random weights.
   With `--init --freeze_epochs K`, training has two stages: the head alone on the frozen backbone, then every
   weight at a tenth of the rate (the default, one stage at the full rate, did better on the small-data
   benchmark). AdamW's weight decay, dropout before the head's last layer and label smoothing regularise both;
   `--folds K` cross-validates first, for the spread of a small set's accuracy.
4. The epoch with the best validation accuracy is kept and exported with Model Garden's exporter: OUT is a whole-clip
   SavedModel (`serving_default`, as the published base models) with `vidlabel.json` (rate, resolution, clip
   length) and `labels.txt`, so `vidlabel run --model OUT` needs no other flag. `--stream` adds OUT/stream (the
   stream SavedModel) and `--tflite` OUT/stream/model.tflite. `training.json` records the data, split, per-epoch
   figures and times.
5. How far to trust it: the kept epoch is scored on the validation clips per class (a confusion matrix, and per
   video), and compared with chance (the largest class's share) and with its training accuracy. A model near chance,
   or one that memorised its training videos, gets a warning that says what to try; it is printed, recorded in
   `training.json` and in `vidlabel.json` (every exported form), and `vidlabel run` repeats it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import io
import json
import multiprocessing
import os
import sys
import time
from typing import NamedTuple

import numpy as np

from vidlabel.movinet import depthwise
from vidlabel.movinet.augment import Augmentation, margin_frames, training_batch
from vidlabel.movinet.export import build_classifier, export
from vidlabel.movinet.metadata import ModelMetadata
from vidlabel.movinet.signature import read_signature
from vidlabel.movinet.source import locate_model
from vidlabel.transforms import listing
from vidlabel.transforms.errors import ModelError, UsageError
from vidlabel.transforms.storage import atomic_folder, has_scheme, to_local_path
from vidlabel.transforms.types import ClipSpec


class LabelledVideo(NamedTuple):
    uri: str
    label: str


class ClipSet(NamedTuple):
    """Decoded clips of one split, as uint8 (the model's float input is exactly value / 255). Training clips are
    decoded a margin longer than the model's clip, room for augmentation's start offset and speed; a clip near the
    end of its video repeats its last frame to that length, and `lengths` says how many frames are real."""

    frames: np.ndarray  # uint8 [N, L, H, W, 3], L >= the model's clip length
    lengths: np.ndarray  # int32 [N] decoded frames of each clip
    labels: np.ndarray  # int32 [N] class index
    videos: np.ndarray  # int32 [N] index of the clip's video in the list it was read from

    def of_videos(self, videos) -> ClipSet:
        """The clips of these videos (indices into the list the set was read from)."""
        keep = np.isin(self.videos, list(videos))
        return ClipSet(self.frames[keep], self.lengths[keep], self.labels[keep], self.videos[keep])


class TrainingConfig(NamedTuple):
    variant: str
    mode: str
    fps: float
    resolution: int
    clip_frames: int
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    patience: int = 5  # stop after this many epochs without a better validation accuracy (0: never)
    augmentation: Augmentation = Augmentation()
    weight_decay: float = 0.05  # AdamW's decoupled decay (times the learning rate), not on biases and norms
    dropout: float = 0.3  # before the head's last layer, in training only
    label_smoothing: float = 0.1
    freeze_epochs: int = 0  # head only on the frozen backbone for this many epochs, then all at FINETUNE_RATE

    def to_record(self) -> dict:
        return {**self._asdict(), "augmentation": self.augmentation._asdict()}


FINETUNE_RATE = 0.1  # after --freeze_epochs, the backbone trains at this share of --learning_rate

# `--epochs` and `--patience` by where the weights start, measured on bench/small_data.py (docs/finetuning.md): a
# backbone from --init is at its best within 15 epochs, while a network from random weights needs a few times as
# many, and its validation accuracy can sit at chance for a dozen epochs before it climbs.
EPOCHS = {"random": 60, "init": 15}
PATIENCE = {"random": 20, "init": 5}


# --- 1. the labelled videos ------------------------------------------------------------------------------------------


def list_labelled_videos(data: str, extensions=listing.DEFAULT_EXTENSIONS) -> list[LabelledVideo]:
    """The (video URI, class) pairs of a class-per-folder tree or a `uri,label` CSV manifest."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    if data.lower().endswith(".csv"):
        if not FileSystems.exists(data):
            raise UsageError(f"--data {data}: no such file")
        with FileSystems.open(data, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            rows = list(csv.reader(io.StringIO(f.read().decode("utf-8"))))
        videos = []
        for number, row in enumerate(rows, 1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if number == 1 and [c.strip().lower() for c in row] == ["uri", "label"]:
                continue  # header
            if len(row) != 2 or not row[1].strip():
                raise UsageError(f"--data {data} line {number}: expected `uri,label`, got {','.join(row)!r}")
            uri = next(iter(listing.manifest_entries(data, [row[0]])))
            videos.append(LabelledVideo(uri, row[1].strip()))
        return videos
    pattern = listing.input_pattern(data)
    if not pattern.videos_only:
        raise UsageError(f"--data {data}: expected a folder with one sub-folder per class, or a .csv manifest")
    root = data.rstrip("/") if has_scheme(data) else os.path.abspath(data)
    videos = []
    for uri in (f.uri for f in listing.match_files(pattern, extensions)):
        path = to_local_path(uri) or uri
        parts = path[len(root) + 1 :].replace(os.sep, "/").split("/")
        if len(parts) >= 2:  # videos directly in DATA have no class
            videos.append(LabelledVideo(uri, parts[0]))
    return sorted(videos)


def split_videos(videos: list[LabelledVideo], validation_split: float, seed: int) -> tuple[list[int], list[int]]:
    """Per-class seeded split into (training, validation) indices into `videos`: each class with 2+ videos gives
    at least one to validation and keeps one to train."""
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label in sorted({v.label for v in videos}):
        members = [i for i, v in enumerate(videos) if v.label == label]
        rng.shuffle(members)
        held = 0 if len(members) < 2 or validation_split <= 0 else max(1, round(validation_split * len(members)))
        held = min(held, len(members) - 1)
        validation += members[:held]
        train += members[held:]
    return sorted(train), sorted(validation)


def fold_splits(videos: list[LabelledVideo], folds: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """`--folds K`: K (training, validation) index splits; each class's videos, shuffled, are dealt round the folds
    so every video is validated exactly once."""
    rng = np.random.default_rng(seed)
    fold_of = {}
    for label in sorted({v.label for v in videos}):
        members = [i for i, v in enumerate(videos) if v.label == label]
        rng.shuffle(members)
        fold_of.update({video: n % folds for n, video in enumerate(members)})
    return [
        ([i for i in range(len(videos)) if fold_of[i] != k], [i for i in range(len(videos)) if fold_of[i] == k])
        for k in range(folds)
    ]


# --- 2. clips, read as `vidlabel run` reads them ---------------------------------------------------------------------


def video_clip_frames(uri: str, spec: ClipSpec, model_frames: int) -> tuple[str, list, str | None]:
    """(uri, clips of `spec.clip_frames` uint8 frames with the number decoded, error message or None): the clips
    with at least `model_frames` frames (the model's clip), shorter ones at the end padded with their last frame.
    Runs in a worker process."""
    from vidlabel.transforms import decode

    def clips(container, stream):  # the stream `vidlabel run` labels, with the same fallback
        return decode.video_clips(uri, container, stream, spec)

    try:
        frames = [
            (np.concatenate([clip, np.repeat(clip[-1:], spec.clip_frames - len(clip), axis=0)]), len(clip))
            for _, clip in decode.on_video_stream(uri, clips)
            if len(clip) >= model_frames  # a tail clip shorter than the model's is not needed
        ]
    except Exception as exc:
        return uri, [], decode.video_error(uri, "decode", exc).message
    if not frames:
        return uri, [], f"shorter than one clip ({model_frames} frames at {spec.fps:g} fps)"
    return uri, frames, None


def read_clips(
    videos: list[LabelledVideo], indices: list[int], classes: list[str], spec: ClipSpec, model_frames: int, desc: str
):
    """Decodes the clips of `videos[i] for i in indices` on every core. Returns the ClipSet (whose `videos` are
    those indices) and [(uri, why)] for videos that gave none."""
    from tqdm import tqdm

    frames, lengths, labels, owners, skipped = [], [], [], [], []
    context = multiprocessing.get_context("spawn")  # workers must not inherit TensorFlow's threads
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context) as pool:
        uris = [videos[i].uri for i in indices]
        results = pool.map(video_clip_frames, uris, [spec] * len(uris), [model_frames] * len(uris), chunksize=4)
        for index, (uri, clips, error) in tqdm(
            zip(indices, results), total=len(uris), desc=desc, unit="video", file=sys.stdout
        ):
            video = videos[index]
            if error:
                skipped.append((uri, error))
            frames += [clip for clip, _ in clips]
            lengths += [length for _, length in clips]
            labels += [classes.index(video.label)] * len(clips)
            owners += [index] * len(clips)
    shape = (0, spec.clip_frames, spec.resolution, spec.resolution, 3)
    clip_set = ClipSet(
        frames=np.stack(frames) if frames else np.zeros(shape, np.uint8),
        lengths=np.asarray(lengths, np.int32),
        labels=np.asarray(labels, np.int32),
        videos=np.asarray(owners, np.int32),
    )
    return clip_set, skipped


# --- 3. the network and its first weights ----------------------------------------------------------------------------


def training_model(config: TrainingConfig, num_classes: int, init: str | None):
    """The classifier to train: `--mode`'s network without external states, backbone from `--init` if given."""
    shape = [None, config.clip_frames, config.resolution, config.resolution, 3]
    model = build_classifier(
        config.variant, config.mode, num_classes, config.seed, shape, external_states=False, dropout_rate=config.dropout
    )
    model.build([1] + shape[1:])
    if init:
        backbone = pretrained_backbone(init, config)
        model.backbone.set_weights(backbone.get_weights())
    return model


@contextlib.contextmanager
def depthwise_layers_as_2d():
    """While it is active, Model Garden's depthwise `Conv3D` layers (those of the base network) compute through
    `depthwise.depthwise_conv3d`, the per-tap 2D form `vidlabel run` gives base SavedModels, instead of XLA's
    grouped convolution, which is slow on CPU: the same function of the same weights, with its gradients. Training
    runs inside it; export builds fresh layers outside it, so the SavedModel keeps the published graph."""
    import tensorflow as tf
    from official.vision.modeling.layers import nn_layers

    original = nn_layers.Conv3D.call

    def call(self, inputs):
        depthwise_layer = self.groups > 1 and self.kernel.shape[3] == 1 and tuple(self.dilation_rate) == (1, 1, 1)
        if not depthwise_layer or self.padding not in ("same", "valid"):  # causal (stream) layers stay as they are
            return original(self, inputs)
        outputs = depthwise.depthwise_conv3d(inputs, self.kernel, (1, *self.strides, 1), self.padding.upper())
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return outputs if self.activation is None else self.activation(outputs)

    nn_layers.Conv3D.call = call
    try:
        yield
    finally:
        nn_layers.Conv3D.call = original


def pretrained_backbone(init: str, config: TrainingConfig):
    """The backbone of a Model Garden checkpoint (Kinetics-600 head, as published) or of a MoViNet SavedModel
    (folder, gs://, alias or hub handle), restored into the network `config` describes. Fails loudly on any
    mismatch: fine-tuning silently from random weights would waste hours."""
    import tensorflow as tf

    prefix = tf.train.latest_checkpoint(init) if os.path.isdir(init) else init
    is_checkpoint = prefix and tf.io.gfile.exists(prefix + ".index")
    if is_checkpoint:  # the tutorial's way: tf.train.Checkpoint(model=...) over the 600-class classifier
        source = build_classifier(config.variant, config.mode, 600, external_states=False)
        source.build([1, 1, config.resolution, config.resolution, 3])
        try:
            tf.train.Checkpoint(model=source).restore(prefix).assert_existing_objects_matched().expect_partial()
        except (AssertionError, ValueError, tf.errors.OpError) as exc:
            raise ModelError(
                f"--init {init}: not a MoViNet {config.variant} {config.mode} checkpoint ({str(exc)[:300]})"
            ) from exc
        return source.backbone
    located = locate_model(init)
    if not os.path.isdir(located.path):
        raise ModelError(f"--init {init}: a TFLite model cannot be trained; give its SavedModel or checkpoint")
    signature = read_signature(located.path, located.metadata.output_key)
    architecture = located.metadata.architecture or located.metadata.mode
    if located.metadata.variant not in (None, config.variant) or architecture != config.mode:
        raise ModelError(
            f"--init {init} is a MoViNet {located.metadata.variant} {architecture} network; this run trains "
            f"{config.variant} {config.mode}: pass --variant {located.metadata.variant} --mode {architecture}"
        )
    source = build_classifier(
        config.variant, config.mode, signature.num_classes, external_states=signature.kind == "stream"
    )
    shape = [1, 1, config.resolution, config.resolution, 3]
    if signature.kind == "stream":
        source({**source.init_states(shape), "image": tf.zeros(shape)})
    else:
        source.build(shape)
    try:  # a SavedModel's variables are a checkpoint whose root is the saved model object; every network weight
        # must be found there, and what the network has no use for (an optimiser's state) is left unread quietly
        weights = os.path.join(located.path, "variables", "variables")
        source.load_weights(weights).assert_existing_objects_matched().expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        raise ModelError(
            f"--init {init}: its weights do not fit a MoViNet {config.variant} {config.mode} network ({str(exc)[:300]})"
        ) from exc
    return source.backbone


# --- 4. training -----------------------------------------------------------------------------------------------------


def fit(model, config: TrainingConfig, train: ClipSet, validation: ClipSet, log=print) -> list[dict]:
    """Trains and leaves `model` with the weights of the epoch with the best validation accuracy (validation
    accuracy swings between epochs on small data), stopping once `config.patience` epochs in a row after the
    frozen ones have not bettered it. Returns one dict of figures per epoch run.

    Two stages when `config.freeze_epochs` > 0 (the recipe for a backbone from `--init`): the head alone on the
    frozen backbone (its batch norms in inference mode) at `--learning_rate`, so that a random head does not wreck
    the backbone's features with large early gradients; then every weight at FINETUNE_RATE of it. Each stage has
    its own AdamW optimiser and cosine decay."""
    import tensorflow as tf
    import tf_keras

    # As reproducible as TensorFlow allows: dropout, shuffling and augmentation draw from the seed, and TensorFlow
    # picks deterministic kernels (or refuses an op that has none). Runs can still part slightly on CPU (see README,
    # Tests).
    tf_keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    num_classes = model.output_shape[-1]

    def dataset(clips: ClipSet, epoch: int | None):
        """Batches of (float clips, one-hot labels); training batches (epoch given) shuffled and augmented."""
        data = tf.data.Dataset.from_tensor_slices((clips.frames, clips.lengths, clips.labels))
        if epoch is not None:
            data = data.shuffle(len(clips.labels), seed=config.seed * 1000 + epoch)
        seeds = tf.data.Dataset.random(seed=config.seed * 1000 + (epoch or 0)).batch(2)
        augmentation = config.augmentation if epoch is not None else config.augmentation._replace(enabled=False)

        @tf.autograph.experimental.do_not_convert  # plain TensorFlow ops: nothing to convert
        def to_model_input(batch, seed):
            frames, lengths, labels = batch
            clips = training_batch(frames, lengths, tf.cast(seed, tf.int32), config.clip_frames, augmentation)
            return clips, tf.one_hot(labels, num_classes)

        data = tf.data.Dataset.zip((data.batch(config.batch_size), seeds))
        return data.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

    steps_per_epoch = int(np.ceil(len(train.labels) / config.batch_size))
    frozen = min(config.freeze_epochs, config.epochs)

    def start_stage(backbone_trainable: bool, rate: float, epochs: int):
        model.backbone.trainable = backbone_trainable
        schedule = tf_keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, epochs * steps_per_epoch))
        optimizer = tf_keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=["bias", "beta", "gamma", "scale"])
        model.compile(
            optimizer=optimizer,
            loss=tf_keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing),
            metrics=["accuracy"],
        )

    # Weights are kept variable by variable: freezing reorders `model.get_weights()`.
    history, best_score, best_weights, stale = [], -1.0, None, 0
    validation_data = dataset(validation, None) if len(validation.labels) else None
    for epoch in range(1, config.epochs + 1):
        if epoch == 1 and frozen:
            start_stage(False, config.learning_rate, frozen)
            log(f"epochs 1-{frozen}: the head alone, on the frozen backbone (--freeze_epochs {frozen})")
        elif epoch == frozen + 1:
            start_stage(True, config.learning_rate * (FINETUNE_RATE if frozen else 1), config.epochs - frozen)
            if frozen:
                log(f"epochs {epoch}-{config.epochs}: every weight, at {FINETUNE_RATE:g} x the learning rate")
        start = time.monotonic()
        figures = model.fit(dataset(train, epoch), epochs=1, verbose=0).history
        row = {"epoch": epoch, "loss": figures["loss"][-1], "accuracy": figures["accuracy"][-1]}
        if validation_data is not None:
            row["val_loss"], row["val_accuracy"] = model.evaluate(validation_data, verbose=0)
        row["seconds"] = time.monotonic() - start
        history.append(row)
        score = row.get("val_accuracy", row["accuracy"])
        if score > best_score:
            best_score, best_weights, stale = score, [(w, w.numpy()) for w in model.weights], 0
        elif epoch > frozen:
            stale += 1
        log(
            f"epoch {epoch}/{config.epochs}  loss {row['loss']:.3f}  train acc {row['accuracy']:.3f}"
            + (f"  val loss {row['val_loss']:.3f}  val acc {row['val_accuracy']:.3f}" if "val_loss" in row else "")
            + f"  ({row['seconds']:.0f} s, {len(train.labels) / row['seconds']:.0f} clips/s)"
        )
        if config.patience and stale >= config.patience and epoch < config.epochs:
            log(f"stopping: no better validation accuracy for {stale} epochs (--patience {config.patience})")
            break
    model.backbone.trainable = True
    for weight, value in best_weights:
        weight.assign(value)
    return history


# --- 5. how far to trust it ----------------------------------------------------------------------------------------

NEAR_CHANCE = 0.25  # validation accuracy less than this share of the way from chance to 1 is "near chance"
MEMORISED_GAP = 0.3  # training accuracy this much above validation accuracy: the network memorised its videos


def validation_report(model, classes: list[str], validation: ClipSet, batch_size: int) -> dict:
    """The kept epoch on the validation clips: per class, the confusion matrix (rows: true class, columns:
    predicted), and per video (its clips' mean logits), as `vidlabel run` scores a video."""
    logits = np.concatenate(
        [
            model(validation.frames[i : i + batch_size].astype(np.float32) * (1 / 255), training=False).numpy()
            for i in range(0, len(validation.labels), batch_size)
        ]
    )
    predicted = logits.argmax(axis=1)
    confusion = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(confusion, (validation.labels, predicted), 1)
    videos = np.unique(validation.videos)
    video_right = [
        int(validation.labels[validation.videos == v][0] == logits[validation.videos == v].mean(axis=0).argmax())
        for v in videos
    ]
    return {
        "clips": int(len(predicted)),
        "accuracy": float((predicted == validation.labels).mean()),
        "chance": float(confusion.sum(axis=1).max() / len(predicted)),
        "videos": int(len(videos)),
        "video_accuracy": float(np.mean(video_right)),
        "per_class": {
            c: {"clips": int(confusion[i].sum()), "correct": int(confusion[i, i])} for i, c in enumerate(classes)
        },
        "confusion_matrix": {"classes": classes, "rows_true_columns_predicted": confusion.tolist()},
    }


def training_warnings(best: dict, report: dict | None) -> list[str]:
    """What the user must know before trusting the model, each with what to try."""
    try_next = (
        "try more videos per class, or start from a backbone trained on other classes (--init MODEL, "
        "docs/finetuning.md)"
    )
    if report is None:
        return ["no validation videos (every class needs 2 or more): nothing measured how well the model does"]
    found = []
    accuracy, chance = report["accuracy"], report["chance"]
    if accuracy < chance + NEAR_CHANCE * (1 - chance):
        found.append(
            f"validation accuracy {accuracy:.2f} is near chance ({chance:.2f}): the model did not learn these "
            f"classes from this data; {try_next}"
        )
    if best["accuracy"] - accuracy > MEMORISED_GAP:
        found.append(
            f"training accuracy {best['accuracy']:.2f} far above validation accuracy {accuracy:.2f} (best epoch "
            f"{best['epoch']}): the network memorised its training videos; {try_next}"
        )
    return found


def log_report(report: dict, log) -> None:
    width = max(len(c) for c in [*report["per_class"], "class"]) + 2
    log(f"validation, kept epoch: {'class':<{width}}clips  correct  accuracy")
    for label, row in report["per_class"].items():
        share = row["correct"] / row["clips"] if row["clips"] else float("nan")
        log(f"{'':23}{label:<{width}}{row['clips']:5d}  {row['correct']:7d}  {share:8.2f}")
    log(
        f"{'':23}{'all':<{width}}{report['clips']:5d}  {round(report['accuracy'] * report['clips']):7d}  "
        f"{report['accuracy']:8.2f}   (chance {report['chance']:.2f}; videos {report['video_accuracy']:.2f} of "
        f"{report['videos']})"
    )


# --- 6. export -------------------------------------------------------------------------------------------------------


def export_trained(
    model,
    out: str,
    config: TrainingConfig,
    classes: list[str],
    *,
    source: str,
    record: dict,
    stream: bool,
    tflite: bool,
) -> None:
    """OUT: whole-clip SavedModel; OUT/stream (+ model.tflite): the stream forms of the same weights."""
    common = dict(
        training_warnings=tuple(record["warnings"]),
        variant=config.variant,
        fps=config.fps,
        resolution=config.resolution,
        clip_frames=config.clip_frames,
        num_classes=len(classes),
        architecture=config.mode,
        source=source,
    )
    import tf_keras

    weights = model.get_weights()
    tf_keras.backend.clear_session()  # layer names as published ("classifier_head"), not "classifier_head_1"
    whole_clip = build_classifier(config.variant, config.mode, len(classes), external_states=False)
    whole_clip.build([1, config.clip_frames, config.resolution, config.resolution, 3])
    whole_clip.set_weights(weights)
    with atomic_folder(out) as folder:
        export(
            folder,
            ModelMetadata(mode="base", output_key="classifier_head", **common),
            whole_clip,
            labels=classes,
            extra_files={"training.json": json.dumps(record, indent=2) + "\n"},
        )
        if stream or tflite:
            streaming = build_classifier(config.variant, "stream", len(classes))
            shape = [1, 1, config.resolution, config.resolution, 3]
            streaming({**streaming.init_states(shape), "image": np.zeros(shape, np.float32)})
            streaming.set_weights(weights)
            os.makedirs(os.path.join(folder, "stream"))
            export(
                os.path.join(folder, "stream"),
                ModelMetadata(mode="stream", output_key="logits", **common),
                streaming,
                labels=classes,
                tflite="float32" if tflite else None,
            )


# --- 7. all of it ----------------------------------------------------------------------------------------------------


def cross_validate(splits, train_clips: ClipSet, validation_clips: ClipSet, classes, config, init, log) -> dict:
    """`--folds K`: a fresh model trained and scored on each fold (read once for all folds); the mean and spread
    of validation accuracy say how far one split's figure can be trusted on a small set."""
    accuracies, video_accuracies, best_epochs = [], [], []
    for k, (train_videos, val_videos) in enumerate(splits, 1):
        log(f"fold {k}/{len(splits)}: {len(train_videos)} training videos, {len(val_videos)} validation videos")
        model = training_model(config, len(classes), init)
        validation = validation_clips.of_videos(val_videos)
        with depthwise_layers_as_2d():
            history = fit(model, config, train_clips.of_videos(train_videos), validation, log=lambda x: log(f"  {x}"))
        report = validation_report(model, classes, validation, config.batch_size)
        accuracies.append(report["accuracy"])
        video_accuracies.append(report["video_accuracy"])
        best_epochs.append(max(history, key=lambda row: row["val_accuracy"])["epoch"])
        log(f"fold {k}/{len(splits)}: validation accuracy {accuracies[-1]:.3f}, videos {video_accuracies[-1]:.3f}")
    summary = {
        "folds": len(splits),
        "accuracy": accuracies,
        "accuracy_mean": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "video_accuracy": video_accuracies,
        "video_accuracy_mean": float(np.mean(video_accuracies)),
        "video_accuracy_std": float(np.std(video_accuracies)),
        "best_epochs": best_epochs,
    }
    log(
        f"cross-validation over {len(splits)} folds: validation accuracy {summary['accuracy_mean']:.3f} "
        f"± {summary['accuracy_std']:.3f} (min {min(accuracies):.3f}, max {max(accuracies):.3f}); per video "
        f"{summary['video_accuracy_mean']:.3f} ± {summary['video_accuracy_std']:.3f}"
    )
    return summary


def finetune(
    data: str,
    out: str,
    config: TrainingConfig,
    *,
    init: str | None = None,
    validation_split: float = 0.2,
    folds: int = 0,
    stream: bool = False,
    tflite: bool = False,
    about: dict | None = None,
    log=print,
) -> dict:
    """Lists, splits and reads the labelled videos, cross-validates (`folds` > 1), trains, and exports the best
    epoch to OUT; returns the training record (also written as OUT/training.json, with `about` merged in first)."""
    videos = list_labelled_videos(data)
    classes = sorted({v.label for v in videos})
    if len(classes) < 2:
        raise UsageError(
            f"--data {data}: found {len(videos)} videos in {len(classes)} classes; need at least 2 classes"
        )
    started = time.time()
    model = training_model(config, len(classes), init)  # before decoding: a bad --init costs no reading time
    log(f"{len(videos)} videos in {len(classes)} classes: {', '.join(classes)}")
    train_videos, val_videos = split_videos(videos, validation_split, config.seed)
    splits = fold_splits(videos, folds, config.seed) if folds > 1 else []
    # Training clips start every half clip and carry augmentation's margin; validation clips are cut as `run` cuts.
    train_spec = ClipSpec(
        config.fps,
        config.resolution,
        config.clip_frames + margin_frames(config.clip_frames, config.augmentation),
        max(1, config.clip_frames // 2),
    )
    val_spec = ClipSpec(config.fps, config.resolution, config.clip_frames, config.clip_frames)
    to_train = sorted(set(train_videos).union(*(fold for fold, _ in splits)))
    to_validate = sorted(set(val_videos).union(*(fold for _, fold in splits)))
    train_clips, skipped = read_clips(videos, to_train, classes, train_spec, config.clip_frames, "train")
    val_clips, val_skipped = read_clips(videos, to_validate, classes, val_spec, config.clip_frames, "validation")
    skipped = list(dict.fromkeys(skipped + val_skipped))
    for uri, why in skipped:
        log(f"skipped {uri}: {why}")
    train, validation = train_clips.of_videos(train_videos), val_clips.of_videos(val_videos)
    if not len(train.labels):
        raise UsageError(f"--data {data}: no training clip could be read (see the skipped videos above)")
    log(
        f"{len(train.labels)} training clips from {len(train_videos)} videos, {len(validation.labels)} validation "
        f"clips from {len(val_videos)} videos ({config.clip_frames} frames of {config.resolution} px at "
        f"{config.fps:g} fps)"
    )
    cross_validation = cross_validate(splits, train_clips, val_clips, classes, config, init, log) if splits else None
    if cross_validation:
        log("training the model to export, on the split above")

    train_started = time.time()
    with depthwise_layers_as_2d():
        history = fit(model, config, train, validation, log=log)
    best = max(history, key=lambda row: row.get("val_accuracy", row["accuracy"]))
    report = validation_report(model, classes, validation, config.batch_size) if len(validation.labels) else None
    if report:
        log_report(report, log)
    warnings = training_warnings(best, report)
    for warning in warnings:
        log(f"WARNING: {warning}")
    record = {
        **(about or {}),
        "data": data,
        "classes": classes,
        "config": config.to_record(),
        "init": init or f"random weights (seed {config.seed})",
        "train_videos": len(train_videos),
        "validation_videos": len(val_videos),
        "train_clips": int(len(train.labels)),
        "validation_clips": int(len(validation.labels)),
        "skipped_videos": [{"uri": uri, "why": why} for uri, why in skipped],
        "cross_validation": cross_validation,
        "best_epoch": best["epoch"],
        "validation": report,
        "warnings": warnings,
        "history": history,
        "train_seconds": time.time() - train_started,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
    }
    log("exporting the best epoch ...")
    source = f"vidlabel finetune on {data} from {record['init']}"
    export_trained(model, out, config, classes, source=source, record=record, stream=stream, tflite=tflite)
    return record
