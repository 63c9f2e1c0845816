"""Everything `vidlabel run` checks and resolves before any work starts, gathered into one `JobPlan`.

A bad flag must stop the job before a single video is decoded, with a message that says how to fix it: no input,
nothing matched, an unwritable output, an unknown alias, a model that cannot be fetched or loaded, labels that
do not fit the model, clip lengths that make no sense. The plan then carries only picklable values (paths,
numbers, strings) into the pipeline graph.
"""
from __future__ import annotations

import datetime
import os
import uuid
from typing import NamedTuple, Optional

from apache_beam.io.filesystems import FileSystems

from vidlabel.pipeline.options import UsageError, VidlabelOptions
from vidlabel.transforms import clips, listing, models, schema
from vidlabel.transforms.types import ClipSpec, PUBLISHED_CLIP_SECONDS


class JobPlan(NamedTuple):
    inputs: list[str]
    manifest: Optional[str]
    extensions: tuple[str, ...]
    num_videos: int  # as listed at launch (files can appear or vanish before the workers get to them)
    output: str
    model_path: str  # local SavedModel folder or .tflite file
    model_name: str  # what the rows record as `model`
    signature: models.ServingSignature
    carry_states: bool  # stream models: carry states across a video's clips instead of resetting per clip
    labels: tuple[str, ...]
    clip_spec: ClipSpec
    top_k: int
    all_scores: bool
    batch_size: int
    run_id: str


DEFAULT_TOP_K = 5


def plan_job(opts: VidlabelOptions) -> JobPlan:
    opts.check()
    extensions = listing.normalise_extensions(opts.extensions.split(","))
    uris = list_videos(opts.input, opts.manifest, extensions)
    output, old_result = check_output(opts.output, opts.overwrite)

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

    if old_result:  # only once every check has passed: a refused job must not cost the previous result
        FileSystems.delete(old_result)
    return JobPlan(
        inputs=list(opts.input),
        manifest=opts.manifest,
        extensions=extensions,
        num_videos=len(uris),
        output=output,
        model_path=located.path,
        model_name=opts.model,
        signature=signature,
        carry_states=opts.stream_states == "video",
        labels=tuple(labels),
        clip_spec=spec,
        top_k=top_k,
        all_scores=opts.all_scores,
        batch_size=opts.batch_size,
        run_id=datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8],
    )


def list_videos(inputs: list[str], manifest: Optional[str], extensions: tuple[str, ...]) -> list[str]:
    """The files the job will label, listed as the pipeline's `ListVideos` will list them."""
    uris: set[str] = set()
    for path in inputs:
        if not listing.is_glob(path) and not listing.has_scheme(path) and not os.path.exists(path):
            raise UsageError(f"--input {path}: no such file or folder")
        found = listing.match_pattern(listing.input_pattern(path), extensions)
        if not found:
            what = f"no file with a video extension ({', '.join(extensions)}); change it with --extensions"
            raise UsageError(f"--input {path}: " + (what if os.path.isdir(path) else "matched no file"))
        uris.update(found)
    if manifest:
        if not FileSystems.exists(manifest):
            raise UsageError(f"--manifest {manifest}: no such file")
        entries = listing.read_manifest(manifest)
        if not entries:
            raise UsageError(f"--manifest {manifest}: lists no video (only blank lines or # comments)")
        uris.update(entries)
    return sorted(uris)


def check_output(output: str, overwrite: bool) -> tuple[str, list[str]]:
    """Makes sure the output can be written and refuses to mix a new result with an old one. Returns the output
    and the files of the old result that --overwrite will replace (deleted by the caller after all checks)."""
    if not listing.has_scheme(output):
        output = os.path.abspath(output)
        try:
            os.makedirs(output, exist_ok=True)
            probe = os.path.join(output, f".vidlabel-write-test-{uuid.uuid4().hex}")
            open(probe, "w").close()
            os.remove(probe)
        except OSError as exc:
            raise UsageError(f"--output {output}: cannot write there ({exc.strerror}); choose another folder") from exc
    existing = [m.path for name in schema.TABLES for m in _match(f"{output.rstrip('/')}/{name}-*.parquet")]
    if existing and not overwrite:
        raise UsageError(
            f"--output {output} already holds a result ({len(existing)} Parquet files); pass --overwrite to "
            "replace it, or choose another folder"
        )
    return output, existing


def _match(pattern: str):
    return FileSystems.match([pattern])[0].metadata_list


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
