"""Everything `vidlabel run` checks and resolves before any work starts, gathered into one `JobPlan`.

A bad flag must stop the job before a single video is decoded, with a message that says how to fix it: no input,
nothing matched, an unwritable output or one that already holds a result, an unknown alias, a model that cannot be
fetched or loaded, labels that do not fit the model, clip lengths that make no sense, an --incremental run whose
settings differ from the result it would extend. Each `plan_*` function decides one thing and returns a small typed
result; `plan_job` runs them in that order and gathers what the graph needs, only picklable values (paths,
numbers, strings).
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from typing import NamedTuple

from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from vidlabel import movinet
from vidlabel.movinet.variants import clip_frame_count, published_clip_frames
from vidlabel.pipeline import batches, publish
from vidlabel.pipeline.options import VidlabelOptions, is_dry_run, is_local_runner
from vidlabel.transforms import incremental, listing
from vidlabel.transforms.errors import UsageError
from vidlabel.transforms.storage import has_scheme, storage_problem, write_json_lines
from vidlabel.transforms.types import ClipSpec, DecodeLimits, DecodeOptions, VideoFile


class JobPlan(NamedTuple):
    batches: tuple[batches.FileBatch, ...]  # the pipelines still to run, in order (their file lists are not
    # written in a dry run)
    files_per_batch: int  # 0: one batch
    replaced_uris: str  # --incremental: the published files labelled again (`incremental.KeepUnchanged`)
    num_listed: int | None  # as listed at launch (None in a dry run over gs://, which cannot list offline)
    num_to_label: int | None  # of those, the new or changed ones with --incremental; all of them otherwise
    num_resumed: int  # of those, the ones an interrupted run this one continues had labelled
    outputs: publish.OutputPlan  # where readers query, where this run writes, the published result
    keep_from: str | None  # --incremental: the published result whose rows of unchanged files are kept
    kept_tables: tuple[str, ...]  # the tables that result holds (one written by an older vidlabel may lack some)
    model_path: str  # the model on the launcher's machine: local SavedModel folder or .tflite file
    model_uri: str  # where workers load it from: model_path on the local runner, a staged gs:// copy on Dataflow
    model_name: str  # what the rows record as `model`
    signature: movinet.ServingSignature
    carry_states: bool  # stream models: carry states across a video's clips instead of resetting per clip
    labels: tuple[str, ...]
    clip_spec: ClipSpec
    decode_limits: DecodeLimits
    top_k: int
    all_scores: bool
    min_score: float  # the segments table's threshold
    frame_labels: bool  # stream models: the per-second frame_labels table
    embeddings: bool  # clip, video and shot embeddings (`movinet/features.py`)
    decode_options: DecodeOptions  # --sparse_decode, --thumbnails
    batch_size: int
    run_id: str
    labelling: dict  # everything a row depends on besides the video: model and labels hashes, clip settings
    dry_run: bool  # build and validate the job only (Dataflow's --dry_run): nothing is read or written remotely
    notes: tuple[str, ...]  # what the launcher wants the user to know (a dry run's skipped checks)

    @property
    def output(self) -> str:
        return self.outputs.output


class ModelPlan(NamedTuple):
    """The model as the launcher found it: its files, its interface and its class names."""

    located: movinet.LocatedModel
    signature: movinet.ServingSignature
    labels: list[str]


class IncrementalPlan(NamedTuple):
    """What a run keeps of the published result, and what it labels."""

    keep_from: str | None  # the published result whose rows are kept (--incremental), else None
    kept_tables: tuple[str, ...]
    to_label: list[VideoFile] | None  # None in a dry run that could not list
    replaced: list[str]  # of those, the URIs the published result holds: their rows give way


DEFAULT_TOP_K = 5
DRY_RUN_NOTE = "dry run (no network): "


def plan_job(options: PipelineOptions) -> JobPlan:
    """Resolves and checks everything, then makes the run's staging folder and writes its file list there. The
    caller holds the output lock."""
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
    for flag, path in [
        *(("--input", i) for i in opts.input),
        ("--manifest", opts.manifest),
        ("--output", opts.output),
        ("--label_file", opts.label_file),
        ("--model", opts.model),
        ("--temp_location", temp_location),
    ]:
        storage.check_bucket(flag, path)
    listed = plan_inputs(opts, storage, notes)
    output, previous = plan_output(opts, storage, notes)
    model = plan_model(opts, dry_run, notes)
    spec = clip_spec(
        model.located.metadata,
        model.signature.input_shape,
        model_name=opts.model,
        fps=opts.fps,
        resolution=opts.resolution,
        clip_seconds=opts.clip_seconds,
        stride_seconds=opts.stride_seconds,
        resize=opts.resize,
        windows=opts.windows,
    )
    top_k = plan_top_k(opts.top_k, len(model.labels))
    labelling = labelling_settings(model, spec, top_k, opts)
    previous_record = publish.read_record(previous) if previous else {}
    incremental_plan = plan_incremental(
        listed, previous if opts.incremental else None, previous_record, labelling, opts.retry_errors, output
    )
    model_uri = model.located.path
    if remote_workers:
        model_uri = stage_for_workers(model.located.path, temp_location, dry_run, notes)
    files_per_batch = plan_files_per_batch(opts.files_per_batch, remote_workers)
    to_label = incremental_plan.to_label
    # What the rows of a run depend on: an interrupted run is continued only by a run that agrees on all of it.
    batch_settings = {
        "labelling": labelling,
        "decode": opts.decode_options()._asdict(),
        "kept_from_run": previous_record.get("run_id") if incremental_plan.keep_from else None,
        "replaced": sorted(incremental_plan.replaced),
    }
    resumed = None if dry_run else batches.find_resumable(publish.runs_folder(output), batch_settings, to_label)
    run_id = resumed.run_id if resumed else new_run_id()
    # Last: a refused job leaves nothing behind.
    outputs = publish.make_staging(
        output, previous, previous_record.get("run_id"), run_id, create=not (dry_run or resumed)
    )
    replaced_uris = f"{outputs.staging.rstrip('/')}/{incremental.REPLACED_URIS}"
    keep = bool(incremental_plan.keep_from)
    if dry_run:
        job_batches = plan_dry_run_batches(outputs.staging, to_label, keep)
    else:
        for removed in publish.remove_unpublished(output, keep=run_id):
            notes.append(f"removed the folder of the interrupted run {removed}, which this run cannot continue")
        if resumed:
            batches.remove_partial(outputs.staging, resumed.done_tags)
            notes.append(
                f"continuing the interrupted run {run_id}: {len(resumed.done_files)} file(s) its finished batches "
                "labelled are kept"
            )
        job_batches = batches.write_batches(outputs.staging, batch_settings, to_label, files_per_batch, keep, resumed)
        if keep:
            write_json_lines(incremental_plan.replaced, replaced_uris)
    return JobPlan(
        batches=job_batches,
        files_per_batch=files_per_batch,
        replaced_uris=replaced_uris,
        num_listed=None if listed is None else len(listed),
        num_to_label=None if to_label is None else len(to_label),
        num_resumed=len(resumed.done_files) if resumed else 0,
        outputs=outputs,
        keep_from=incremental_plan.keep_from,
        kept_tables=incremental_plan.kept_tables,
        model_path=model.located.path,
        model_uri=model_uri,
        model_name=opts.model,
        signature=model.signature,
        carry_states=opts.stream_states == "video",
        labels=tuple(model.labels),
        clip_spec=spec,
        decode_limits=opts.decode_limits(),
        top_k=top_k,
        all_scores=opts.all_scores,
        min_score=opts.min_score,
        frame_labels=opts.frame_labels,
        embeddings=opts.embeddings,
        decode_options=opts.decode_options(),
        batch_size=opts.batch_size,
        run_id=run_id,
        labelling=labelling,
        dry_run=dry_run,
        notes=tuple(notes),
    )


def new_run_id() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def plan_files_per_batch(files_per_batch: int | None, remote_workers: bool) -> int:
    """--files_per_batch, or its default: batches on the local runners, whose memory grows with the files of one
    pipeline (`batches.py`); one batch (0) on remote runners."""
    if files_per_batch is None:
        return 0 if remote_workers else batches.DEFAULT_FILES_PER_BATCH
    return files_per_batch


def plan_dry_run_batches(staging: str, to_label: list[VideoFile] | None, keep: bool) -> tuple[batches.FileBatch, ...]:
    """The pipelines a dry run validates: the kept pass and one batch of every file, as a Dataflow job runs them
    (nothing is written)."""
    tag = batches.batch_tag(0)
    kept = (batches.FileBatch(batches.KEPT, "", 0),) if keep else ()
    if to_label is not None and not to_label:
        return kept
    return kept + (batches.FileBatch(tag, f"{staging.rstrip('/')}/{batches.RECORD}/{tag}.jsonl", len(to_label or ())),)


def plan_inputs(opts: VidlabelOptions, storage: StorageCheck, notes: list[str]) -> list[VideoFile] | None:
    """The one listing of the job's files (None in a dry run that cannot read remote inputs offline)."""
    if not storage.can_read(*opts.input, opts.manifest):
        notes.append(DRY_RUN_NOTE + "the inputs were not listed")
        return None
    extensions = listing.normalise_extensions(opts.extensions.split(","))
    return listing.list_videos(opts.input, opts.manifest, extensions)


def plan_output(opts: VidlabelOptions, storage: StorageCheck, notes: list[str]) -> tuple[str, str | None]:
    """OUTPUT as the run will write it, and the folder of its published result (None when there is none)."""
    if not storage.can_read(opts.output):
        notes.append(DRY_RUN_NOTE + f"--output {opts.output} was not checked for an earlier result")
        return opts.output.rstrip("/"), None
    return publish.check_output(opts.output, replace=opts.overwrite or opts.incremental)


def plan_top_k(top_k: int | None, num_classes: int) -> int:
    if top_k is None:
        return min(DEFAULT_TOP_K, num_classes)
    if top_k > num_classes:
        raise UsageError(f"--top_k {top_k} is more than the model's {num_classes} classes")
    return top_k


def labelling_settings(model: ModelPlan, spec: ClipSpec, top_k: int, opts: VidlabelOptions) -> dict:
    """Everything a row depends on besides the video, as run.json records it and --incremental compares it."""
    path = model.located.path
    return {
        "model_sha256": None if has_scheme(path) else movinet.content_sha256(path),
        "labels_sha256": hashlib.sha256("\n".join(model.labels).encode("utf-8")).hexdigest(),
        **spec._asdict(),
        "top_k": top_k,
        "all_scores": opts.all_scores,
        "stream_states": opts.stream_states,
        "min_score": opts.min_score,
        "frame_labels": opts.frame_labels,
        "embeddings": opts.embeddings,
        "fast_decode": opts.fast_decode == "on",  # the one decoding setting that can change a clip
    }


def plan_incremental(
    listed: list[VideoFile] | None,
    keep_from: str | None,
    previous_record: dict,
    labelling: dict,
    retry_errors: bool,
    output: str,
) -> IncrementalPlan:
    """Without --incremental (`keep_from` None) every listed file is labelled. With it, the files the published
    result already holds unchanged are not, and its rows of them are kept."""
    if not keep_from:
        return IncrementalPlan(None, (), listed, [])
    check_same_labelling(previous_record, labelling, output)
    rows = publish.read_table(keep_from, "videos", columns=incremental.VERSION_COLUMNS).to_pylist()
    before = {r["video_uri"]: incremental.published(r) for r in rows}
    to_label = None if listed is None else incremental.to_label(listed, before, retry_errors)
    replaced = incremental.replaced(to_label or [], before)
    return IncrementalPlan(keep_from, publish.result_tables(keep_from), to_label, replaced)


class StorageCheck:
    """Checks that the buckets a job names exist, once per bucket, so a typo is one clear message at launch
    rather than a failed job. In a dry run nothing remote is touched: the checks are skipped, and a note says so."""

    def __init__(self, options: PipelineOptions, dry_run: bool, notes: list[str]):
        self._options = options
        self._dry_run = dry_run
        self._notes = notes
        self._checked: set[str] = set()

    def can_read(self, *paths: str | None) -> bool:
        return not self._dry_run or not any(p and has_scheme(p) for p in paths)

    def check_bucket(self, flag: str, path: str | None) -> None:
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
    local = [f"--input {p}" for p in opts.input if not has_scheme(p)]
    local += [
        f"--{flag} {getattr(opts, flag)}"
        for flag in ("manifest", "output")
        if getattr(opts, flag) and not has_scheme(getattr(opts, flag))
    ]
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


def plan_model(opts: VidlabelOptions, dry_run: bool, notes: list[str]) -> ModelPlan:
    """The model on this machine, its interface and its class names, checked against each other and the flags. A
    dry run downloads nothing: a published alias is planned from what its name says, with placeholder class names
    unless --label_file is local."""
    if dry_run and has_scheme(opts.model):
        raise UsageError(
            f"--model {opts.model}: a dry run cannot read a remote model offline; validate with a local copy of it "
            "or an alias"
        )
    located = movinet.locate_model(opts.model, offline=dry_run)
    if has_scheme(located.path):  # a dry run's alias
        signature = movinet.published_signature(opts.model)
        notes.append(DRY_RUN_NOTE + f"the model {opts.model} was not downloaded (a real run downloads it once)")
    else:
        signature = movinet.read_signature(located.path, located.metadata.output_key)
    remote_labels = opts.label_file and has_scheme(opts.label_file)
    if dry_run and (remote_labels or (located.published and not opts.label_file)):
        labels = [f"class {i}" for i in range(signature.num_classes)]
        notes.append(DRY_RUN_NOTE + "the class names were not read; the plan uses placeholders")
    else:
        labels = movinet.load_labels(opts.label_file, located)
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
    if opts.frame_labels and signature.kind == "base":
        raise UsageError(
            f"--frame_labels needs a stream or TFLite model, which predicts after every frame; {opts.model} is a "
            "base model, which predicts once per clip (use a stream model such as a0-stream, or a shorter "
            "--clip_seconds for finer rows in the predictions table)"
        )
    if opts.embeddings and signature.embedding_dim is None:
        raise UsageError(
            f"--embeddings reads the pooled features MoViNet's classifier head takes, and {opts.model} has no such "
            "head (use a MoViNet exported by Model Garden, vidlabel export-model or vidlabel finetune, or leave "
            "--embeddings off)"
        )
    for warning in located.metadata.training_warnings:
        notes.append(f"WARNING: vidlabel finetune warned of the model {opts.model}: {warning}")
    return ModelPlan(located, signature, labels)


def stage_for_workers(local_path: str, temp_location: str, dry_run: bool, notes: list[str]) -> str:
    """Dataflow workers get the model from the job's temp location, copied there now: they need no internet and
    load exactly the files this launcher checked."""
    if has_scheme(local_path):  # a dry run's alias: not downloaded, so nothing to stage
        return local_path
    if dry_run:
        notes.append(DRY_RUN_NOTE + f"the model was not copied to {temp_location.rstrip('/')}/{movinet.STAGED_MODELS}/")
        return local_path
    try:
        return movinet.stage_model(local_path, temp_location)
    except OSError as exc:
        raise UsageError(
            f"cannot copy the model to --temp_location {temp_location} ({storage_problem(exc)}); check that "
            "the bucket exists and these credentials may write to it"
        ) from exc


# Settings that only add outputs (a column filled or left null): kept rows may differ from new ones in these.
# Every other labelling setting changes the values rows hold, so old and new rows must agree on it.
OUTPUT_SETTINGS = ("all_scores",)
# Settings newer than some results, with the value that stands for what an older vidlabel did. ANY_VALUE: the older
# version wrote none of the output the setting shapes (no segments before 0.5), so any value extends its result.
ANY_VALUE = object()
SETTINGS_ADDED = {
    "windows": "fixed",
    "min_score": ANY_VALUE,
    "frame_labels": False,
    "embeddings": False,
    "fast_decode": False,
}


def check_same_labelling(previous_record: dict, labelling: dict, output: str) -> None:
    """--incremental keeps old rows beside new ones, so both must mean the same: same model, labels, clip settings.
    A result written by an older vidlabel is extended the same way (its rows lack only the newer outputs and
    tables, `SETTINGS_ADDED`)."""
    before = previous_record.get("labelling", {})

    def differs(setting):
        old = before.get(setting, SETTINGS_ADDED.get(setting))
        return setting not in OUTPUT_SETTINGS and old is not ANY_VALUE and old != labelling[setting]

    changed = sorted(filter(differs, labelling))
    if changed:
        raise UsageError(
            f"--incremental: the result in {output} was labelled with other settings ({', '.join(changed)} differ), "
            "so its rows cannot be kept beside new ones; pass --overwrite to relabel everything, or use the same "
            "model and flags"
        )


def clip_spec(
    metadata: movinet.ModelMetadata,
    input_shape: tuple,
    *,
    model_name: str,
    fps: float | None = None,
    resolution: int | None = None,
    clip_seconds: float | None = None,
    stride_seconds: float | None = None,
    resize: str = "crop",
    windows: str = "fixed",
) -> ClipSpec:
    """The model's rate, resolution and clip length: flags win, then the model's metadata, then its input shape."""
    fixed_side = input_shape[2] if len(input_shape) == 5 and input_shape[2] == input_shape[3] else None
    resolution = resolution or metadata.resolution or fixed_side
    if not resolution:
        raise UsageError(
            f"the model {model_name} does not say its input resolution (no {movinet.METADATA_FILE}, dynamic input "
            "shape): pass --resolution N (172 for MoViNet A0/A1, 224 for A2, 256 for A3, 290 for A4, 320 for A5)"
        )
    if fixed_side and resolution != fixed_side:
        raise UsageError(f"--resolution {resolution}: the model only takes {fixed_side}x{fixed_side} frames")
    fps = fps or metadata.fps
    if not fps:
        raise UsageError(
            f"the model {model_name} does not say its frame rate (no {movinet.METADATA_FILE}): pass --fps N "
            "(5 for MoViNet A0-A2, 12 for A3 and A5, 8 for A4)"
        )
    for flag, seconds in (("--clip_seconds", clip_seconds), ("--stride_seconds", stride_seconds)):
        if seconds and seconds * fps < 1:
            raise UsageError(f"{flag} {seconds} is shorter than one frame at {fps} fps")
    if clip_seconds:
        clip_frames = clip_frame_count(clip_seconds, fps)
    else:
        clip_frames = metadata.clip_frames or published_clip_frames(fps)
    stride_frames = clip_frame_count(stride_seconds, fps) if stride_seconds else clip_frames
    return ClipSpec(
        fps=fps,
        resolution=resolution,
        clip_frames=clip_frames,
        stride_frames=stride_frames,
        resize=resize,
        windows=windows,
    )
