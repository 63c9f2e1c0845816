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
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from vidlabel.pipeline import publish
from vidlabel.pipeline.options import UsageError, VidlabelOptions, is_dry_run, is_local_runner
from vidlabel.transforms import clips, incremental, listing, models
from vidlabel.transforms.types import PUBLISHED_CLIP_SECONDS, ClipSpec, DecodeLimits, VideoFile


class JobPlan(NamedTuple):
    inputs: list[str]
    manifest: Optional[str]
    extensions: tuple[str, ...]
    num_listed: Optional[int]  # as listed at launch (None in a dry run over gs://, which cannot list offline)
    num_to_label: Optional[int]  # of those, the new or changed ones with --incremental; all of them otherwise
    outputs: publish.OutputPlan  # where readers query, where this run writes, the published result
    keep_from: Optional[str]  # --incremental: the published result whose rows of unchanged files are kept
    kept_tables: tuple[str, ...]  # the tables that result holds (one written by an older vidlabel may lack some)
    retry_errors: bool  # --incremental --retry_errors: files whose published row is an error are labelled again
    model_path: str  # the model on the launcher's machine: local SavedModel folder or .tflite file
    model_uri: str  # where workers load it from: model_path on the local runner, a staged gs:// copy on Dataflow
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
    dry_run: bool  # build and validate the job only (Dataflow's --dry_run): nothing is read or written remotely
    notes: tuple[str, ...]  # what the launcher wants the user to know (a dry run's skipped checks)

    @property
    def output(self) -> str:
        return self.outputs.output


DEFAULT_TOP_K = 5
DRY_RUN_NOTE = "dry run (no network): "


def plan_job(options: PipelineOptions) -> JobPlan:
    """Resolves and checks everything, then makes the run's staging folder. The caller holds the output lock."""
    opts = options.view_as(VidlabelOptions)
    dry_run = is_dry_run(options)
    remote_workers = not is_local_runner(options)
    notes: list[str] = []
    runner = str(options.view_as(StandardOptions).runner or "")
    if dry_run and not runner.endswith("DataflowRunner"):  # other runners would run the job for real
        raise UsageError(
            "--dry_run builds and validates a Dataflow job without submitting it; give --runner DataflowRunner "
            "(run_dataflow.sh does)"
        )
    storage = StorageCheck(options, dry_run, notes)
    temp_location = check_remote_job(options) if remote_workers else None
    extensions = listing.normalise_extensions(opts.extensions.split(","))
    for flag, path in [*(("--input", i) for i in opts.input), ("--manifest", opts.manifest), ("--output", opts.output),
                       ("--label_file", opts.label_file), ("--model", opts.model), ("--temp_location", temp_location)]:
        storage.check_bucket(flag, path)
    if storage.can_read(*opts.input, opts.manifest):
        listed: Optional[list[VideoFile]] = list_videos(opts.input, opts.manifest, extensions)
    else:
        listed = None
        notes.append(DRY_RUN_NOTE + "the inputs were not listed")
    if storage.can_read(opts.output):
        output, previous = publish.check_output(opts.output, replace=opts.overwrite or opts.incremental)
    else:
        output, previous = opts.output.rstrip("/"), None
        notes.append(DRY_RUN_NOTE + f"--output {opts.output} was not checked for an earlier result")

    located, signature, labels = resolve_model(opts, dry_run, notes)
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
    model_sha256 = None if listing.has_scheme(located.path) else models.content_sha256(located.path)
    labelling = {
        "model_sha256": model_sha256,
        "labels_sha256": hashlib.sha256("\n".join(labels).encode("utf-8")).hexdigest(),
        **spec._asdict(),
        "top_k": top_k,
        "all_scores": opts.all_scores,
        "stream_states": opts.stream_states,
    }
    previous_record = publish.read_record(previous) if previous else {}
    keep_from = previous if opts.incremental else None
    to_label, kept_tables = listed, ()
    if keep_from:
        check_same_labelling(previous_record, labelling, output)
        kept_tables = publish.result_tables(keep_from)
        rows = publish.read_table(keep_from, "videos", columns=incremental.VERSION_COLUMNS).to_pylist()
        before = {r["video_uri"]: incremental.published(r) for r in rows}
        to_label = incremental.to_label(listed, before, opts.retry_errors)

    model_uri = located.path
    if remote_workers:
        model_uri = stage_for_workers(located.path, temp_location, dry_run, notes)
    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    return JobPlan(
        inputs=list(opts.input),
        manifest=opts.manifest,
        extensions=extensions,
        num_listed=None if listed is None else len(listed),
        num_to_label=None if to_label is None else len(to_label),
        # last: a refused job leaves nothing behind
        outputs=publish.make_staging(output, previous, previous_record.get("run_id"), run_id, create=not dry_run),
        keep_from=keep_from,
        kept_tables=kept_tables,
        retry_errors=opts.retry_errors,
        model_path=located.path,
        model_uri=model_uri,
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
        dry_run=dry_run,
        notes=tuple(notes),
    )


class StorageCheck:
    """Checks that the buckets a job names exist, once per bucket, so a typo is one clear message at launch
    rather than a failed job. In a dry run nothing remote is touched: the checks are skipped, and a note says so."""

    def __init__(self, options: PipelineOptions, dry_run: bool, notes: list[str]):
        self._options = options
        self._dry_run = dry_run
        self._notes = notes
        self._checked: set[str] = set()

    def can_read(self, *paths: Optional[str]) -> bool:
        return not self._dry_run or not any(p and listing.has_scheme(p) for p in paths)

    def check_bucket(self, flag: str, path: Optional[str]) -> None:
        if not path or not path.startswith("gs://"):
            return
        bucket = path[len("gs://") :].split("/", 1)[0]
        if bucket in self._checked:
            return
        self._checked.add(bucket)
        if self._dry_run:
            self._notes.append(DRY_RUN_NOTE + f"the bucket gs://{bucket} was not checked")
            return
        from apache_beam.io.gcp import gcsio

        from google.api_core.exceptions import Forbidden

        try:
            found = gcsio.GcsIO(pipeline_options=self._options).get_bucket(bucket)
        except Forbidden:  # object roles without storage.buckets.get: the objects' own checks follow
            self._notes.append(f"the bucket gs://{bucket} could not be looked up (no storage.buckets.get permission)")
            return
        except Exception as exc:  # no network, bad credentials
            raise UsageError(
                f"{flag} {path}: cannot look up the bucket gs://{bucket} ({type(exc).__name__}: {exc}); check the "
                "credentials (gcloud auth application-default login) and that they may read it"
            ) from exc
        if found is None:
            raise UsageError(
                f"{flag} {path}: the bucket gs://{bucket} does not exist; check the name, or create it "
                f"(gcloud storage buckets create gs://{bucket})"
            )


def check_remote_job(options: PipelineOptions) -> str:
    """A job whose workers run elsewhere (Dataflow) reads and writes only what they can reach, and stages the
    model under its temp location; returns that location."""
    opts = options.view_as(VidlabelOptions)
    local = [f"--input {p}" for p in opts.input if not listing.has_scheme(p)]
    local += [f"--{flag} {getattr(opts, flag)}" for flag in ("manifest", "output") if getattr(opts, flag) and not listing.has_scheme(getattr(opts, flag))]
    if local:
        raise UsageError(
            f"{', '.join(local)}: workers on {options.view_as(StandardOptions).runner} cannot read this machine's "
            "files; copy them to a bucket (gcloud storage cp -r DIR gs://BUCKET/videos) and pass gs:// paths"
        )
    cloud = options.view_as(GoogleCloudOptions)
    temp_location = cloud.temp_location or cloud.staging_location
    if not temp_location or not temp_location.startswith("gs://"):
        raise UsageError("give --temp_location gs://BUCKET/tmp (run_dataflow.sh derives it from --bucket BUCKET)")
    return temp_location


def resolve_model(opts: VidlabelOptions, dry_run: bool, notes: list[str]):
    """The model on this machine, its interface and its class names. A dry run downloads nothing: a published
    alias is planned from what its name says, with placeholder class names unless --label_file is local."""
    if dry_run and listing.has_scheme(opts.model):
        raise UsageError(
            f"--model {opts.model}: a dry run cannot read a remote model offline; validate with a local copy of it "
            "or an alias"
        )
    try:
        located = models.locate_model(opts.model, offline=dry_run)
        if listing.has_scheme(located.path):  # a dry run's alias
            signature = models.published_signature(opts.model)
            notes.append(DRY_RUN_NOTE + f"the model {opts.model} was not downloaded (a real run downloads it once)")
        else:
            signature = models.read_signature(located.path, located.metadata.output_key)
        remote_labels = opts.label_file and listing.has_scheme(opts.label_file)
        if dry_run and (remote_labels or (located.published and not opts.label_file)):
            labels = [f"class {i}" for i in range(signature.num_classes)]
            notes.append(DRY_RUN_NOTE + "the class names were not read; the plan uses placeholders")
        else:
            labels = models.load_labels(opts.label_file, located)
    except models.ModelError as exc:
        raise UsageError(str(exc)) from exc
    return located, signature, labels


def stage_for_workers(local_path: str, temp_location: str, dry_run: bool, notes: list[str]) -> str:
    """Dataflow workers get the model from the job's temp location, copied there now: they need no internet and
    load exactly the files this launcher checked."""
    if listing.has_scheme(local_path):  # a dry run's alias: not downloaded, so nothing to stage
        return local_path
    if dry_run:
        notes.append(DRY_RUN_NOTE + f"the model was not copied to {temp_location.rstrip('/')}/{models.STAGED_MODELS}/")
        return local_path
    try:
        return models.stage_model(local_path, temp_location)
    except OSError as exc:
        raise UsageError(
            f"cannot copy the model to --temp_location {temp_location} ({listing.storage_problem(exc)}); check that "
            "the bucket exists and these credentials may write to it"
        ) from exc


# Settings that only add outputs (a column filled or left null): kept rows may differ from new ones in these.
# Every other labelling setting changes the values rows hold, so old and new rows must agree on it.
OUTPUT_SETTINGS = ("all_scores",)


def check_same_labelling(previous_record: dict, labelling: dict, output: str) -> None:
    """--incremental keeps old rows beside new ones, so both must mean the same: same model, labels, clip settings.
    A result written by an older vidlabel is extended the same way (its rows lack only the newer outputs)."""
    before = previous_record.get("labelling", {})
    changed = sorted(k for k in labelling if k not in OUTPUT_SETTINGS and before.get(k) != labelling[k])
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
        try:
            pattern = listing.input_pattern(path)
            found = listing.match_files(pattern, extensions)
        except OSError as exc:  # Beam's BeamIOError: no permission, no network
            raise UsageError(f"--input {path}: cannot list it ({listing.storage_problem(exc)})") from exc
        if not found:
            what = f"no file with a video extension ({', '.join(extensions)}); change it with --extensions"
            nothing = "no such object, and no object below it as a folder" if listing.has_scheme(path) else "matched no file"
            raise UsageError(f"--input {path}: " + (what if pattern.videos_only else nothing))
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
