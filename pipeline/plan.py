"""Everything `vidlabel run` checks and resolves before any work starts, gathered into one `JobPlan`.

A bad flag must stop the job before a single video is decoded, with a message that says how to fix it: no input,
nothing matched, an unwritable output or one that already holds a result, an unknown alias, a model that cannot be
fetched or loaded, labels that do not fit the model, clip lengths that make no sense, an --incremental run whose
settings differ from the result it would extend. The plan then carries only picklable values (paths,
numbers, strings) into the pipeline graph.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import uuid
from typing import NamedTuple, Optional

from apache_beam.io.filesystems import FileSystems

from vidlabel.pipeline import publish
from vidlabel.pipeline.options import UsageError, VidlabelOptions
from vidlabel.transforms import clips, incremental, listing, models
from vidlabel.transforms.types import PUBLISHED_CLIP_SECONDS, ClipSpec, DecodeLimits, VideoFile


class JobPlan(NamedTuple):
    inputs: list[str]
    manifest: Optional[str]
    extensions: tuple[str, ...]
    num_listed: int  # as listed at launch (files can appear or vanish before the workers get to them)
    num_to_label: int  # of those, the new or changed ones with --incremental; all of them otherwise
    outputs: publish.OutputPlan  # where readers query, where this run writes, the published result
    keep_from: Optional[str]  # --incremental: the published result whose rows of unchanged files are kept
    model_path: str  # local SavedModel folder or .tflite file
    model_name: str  # what the rows record as `model`
    signature: models.ServingSignature
    carry_states: bool  # stream models: carry states across a video's clips instead of resetting per clip
    labels: tuple[str, ...]
    clip_spec: ClipSpec
    decode_limits: DecodeLimits
    top_k: int
    all_scores: bool
    batch_size: int
    run_id: str
    labelling: dict  # everything a row depends on besides the video: model and labels hashes, clip settings

    @property
    def output(self) -> str:
        return self.outputs.output


DEFAULT_TOP_K = 5


def plan_job(opts: VidlabelOptions) -> JobPlan:
    """Resolves and checks everything, then makes the run's staging folder. The caller holds the output lock."""
    opts.check()
    extensions = listing.normalise_extensions(opts.extensions.split(","))
    listed = list_videos(opts.input, opts.manifest, extensions)
    output, previous = publish.check_output(opts.output, replace=opts.overwrite or opts.incremental)

    try:
        located = models.locate_model(opts.model)
        signature = models.read_signature(located.path, located.metadata.output_key)
        labels = models.load_labels(opts.label_file, located)
    except models.ModelError as exc:
        raise UsageError(str(exc)) from exc
    if len(labels) != signature.num_classes:
        raise UsageError(
            f"the labels have {len(labels)} names but the model scores {signature.num_classes} classes: pass the "
            "--label_file that belongs to this model"
        )
    if opts.stream_states == "video" and signature.kind == "base":
        raise UsageError(
            f"--stream_states video needs a stream or TFLite model; {opts.model} is a base model (use "
            "--stream_states clip, or a stream model such as a0-stream)"
        )
    top_k = min(DEFAULT_TOP_K, len(labels)) if opts.top_k is None else opts.top_k
    if top_k > len(labels):
        raise UsageError(f"--top_k {opts.top_k} is more than the model's {len(labels)} classes")
    spec = clip_spec(opts, located.metadata, signature.input_shape)
    labelling = {
        "model_sha256": models.content_sha256(located.path),
        "labels_sha256": hashlib.sha256("\n".join(labels).encode("utf-8")).hexdigest(),
        **spec._asdict(),
        "top_k": top_k,
        "all_scores": opts.all_scores,
        "stream_states": opts.stream_states,
    }
    previous_record = publish.read_record(previous) if previous else {}
    keep_from = previous if opts.incremental else None
    to_label = listed
    if keep_from:
        check_same_labelling(previous_record, labelling, output)
        published = publish.read_table(keep_from, "videos", columns=incremental.VERSION_COLUMNS).to_pylist()
        to_label = incremental.new_or_changed(listed, {r["video_uri"]: incremental.published_version(r) for r in published})

    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    return JobPlan(
        inputs=list(opts.input),
        manifest=opts.manifest,
        extensions=extensions,
        num_listed=len(listed),
        num_to_label=len(to_label),
        # last: a refused job leaves nothing behind
        outputs=publish.make_staging(output, previous, previous_record.get("run_id"), run_id),
        keep_from=keep_from,
        model_path=located.path,
        model_name=opts.model,
        signature=signature,
        carry_states=opts.stream_states == "video",
        labels=tuple(labels),
        clip_spec=spec,
        decode_limits=opts.decode_limits(),
        top_k=top_k,
        all_scores=opts.all_scores,
        batch_size=opts.batch_size,
        run_id=run_id,
        labelling=labelling,
    )


def check_same_labelling(previous_record: dict, labelling: dict, output: str) -> None:
    """--incremental keeps old rows beside new ones, so both must mean the same: same model, labels, clip settings."""
    before = previous_record.get("labelling", {})
    changed = sorted(k for k in labelling if before.get(k) != labelling[k])
    if changed:
        raise UsageError(
            f"--incremental: the result in {output} was labelled with other settings ({', '.join(changed)} differ), "
            "so its rows cannot be kept beside new ones; pass --overwrite to relabel everything, or use the same "
            "model and flags"
        )


def list_videos(inputs: list[str], manifest: Optional[str], extensions: tuple[str, ...]) -> list[VideoFile]:
    """The files the job will label, listed as the pipeline's `ListVideos` will list them, in URI order."""
    files: dict[str, VideoFile] = {}
    for path in inputs:
        if not listing.is_glob(path) and not listing.has_scheme(path) and not os.path.exists(path):
            raise UsageError(f"--input {path}: no such file or folder")
        found = listing.match_files(listing.input_pattern(path), extensions)
        if not found:
            what = f"no file with a video extension ({', '.join(extensions)}); change it with --extensions"
            raise UsageError(f"--input {path}: " + (what if os.path.isdir(path) else "matched no file"))
        files.update((f.uri, f) for f in found)
    if manifest:
        if not FileSystems.exists(manifest):
            raise UsageError(f"--manifest {manifest}: no such file")
        entries = listing.read_manifest(manifest)
        if not entries:
            raise UsageError(f"--manifest {manifest}: lists no video (only blank lines or # comments)")
        # Local entries are looked up here; remote ones only in the pipeline, in parallel (one request each), so
        # with --incremental the launch count may include unchanged remote files that the pipeline then keeps.
        files.update(
            (uri, listing.stat_video(uri) if listing.to_local_path(uri) else VideoFile(uri, None, None))
            for uri in entries
            if uri not in files
        )
    return [files[uri] for uri in sorted(files)]


def clip_spec(opts: VidlabelOptions, metadata: models.ModelMetadata, input_shape: tuple) -> ClipSpec:
    """The model's rate, resolution and clip length: flags win, then the model's metadata, then its input shape."""
    fixed_side = input_shape[2] if len(input_shape) == 5 and input_shape[2] == input_shape[3] else None
    resolution = opts.resolution or metadata.resolution or fixed_side
    if not resolution:
        raise UsageError(
            f"the model {opts.model} does not say its input resolution (no {models.METADATA_FILE}, dynamic input "
            "shape): pass --resolution N (172 for MoViNet A0/A1, 224 for A2, 256 for A3, 290 for A4, 320 for A5)"
        )
    if fixed_side and resolution != fixed_side:
        raise UsageError(f"--resolution {resolution}: the model only takes {fixed_side}x{fixed_side} frames")
    fps = opts.fps or metadata.fps
    if not fps:
        raise UsageError(
            f"the model {opts.model} does not say its frame rate (no {models.METADATA_FILE}): pass --fps N "
            "(5 for MoViNet A0-A2, 12 for A3 and A5, 8 for A4)"
        )
    if opts.clip_seconds:
        clip_frames = clips.clip_frame_count(opts.clip_seconds, fps)
    elif metadata.clip_frames:
        clip_frames = metadata.clip_frames
    else:
        clip_frames = clips.clip_frame_count(PUBLISHED_CLIP_SECONDS, fps)
    if opts.clip_seconds and opts.clip_seconds * fps < 1:
        raise UsageError(f"--clip_seconds {opts.clip_seconds} is shorter than one frame at {fps} fps")
    stride_frames = clips.clip_frame_count(opts.stride_seconds, fps) if opts.stride_seconds else clip_frames
    if opts.stride_seconds and opts.stride_seconds * fps < 1:
        raise UsageError(f"--stride_seconds {opts.stride_seconds} is shorter than one frame at {fps} fps")
    return ClipSpec(fps=fps, resolution=resolution, clip_frames=clip_frames, stride_frames=stride_frames, resize=opts.resize)
