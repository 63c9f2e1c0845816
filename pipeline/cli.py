"""The `vidlabel` command: the table of commands, the one exit-status rule, and `vidlabel run` itself.

Every command raises a `VidlabelError` for a problem the user can fix; `main` reports it the one way (exit 2).

`run` takes Beam pipeline flags only (`VidlabelOptions` plus Beam's own), so the same command line works on the
local runner and on Dataflow. Before any work it resolves and checks everything (`plan.plan_job`); while a local
run goes it shows a progress bar, and at the end a summary read back from the written videos table.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.metadata
import json
import os
import sys
import tempfile
import traceback
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DebugOptions, GoogleCloudOptions, PipelineOptions, WorkerOptions

from vidlabel.pipeline import __version__, batches, graph, publish
from vidlabel.pipeline.console import RunConsole, run_with_progress_bar
from vidlabel.pipeline.options import VidlabelOptions, help_parser, is_local_runner, parse_options
from vidlabel.pipeline.plan import JobPlan, plan_job
from vidlabel.transforms import errors, schema
from vidlabel.transforms.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, VidlabelError


class Command(NamedTuple):
    module: str  # imported only when the command runs: `export-model` and `finetune` need the `export` extra
    summary: str


COMMANDS = {
    "run": Command("vidlabel.pipeline.cli", "label videos and write Parquet tables (vidlabel run --help)"),
    "export-model": Command(
        "vidlabel.pipeline.commands.export_model", "build a MoViNet model with Model Garden and export it"
    ),
    "plot": Command(
        "vidlabel.pipeline.commands.plot",
        "a video beside its top-k probabilities over time, as GIF/MP4, or a PNG timeline",
    ),
    "finetune": Command("vidlabel.pipeline.commands.finetune", "train MoViNet on your own labelled videos"),
    "synth": Command("vidlabel.pipeline.commands.synth", "render labelled synthetic action videos"),
    "demo": Command(
        "vidlabel.pipeline.commands.demo", "offline demo: synth -> finetune -> run on held-out videos -> DuckDB query"
    ),
    "export-annotations": Command(
        "vidlabel.pipeline.commands.export_annotations",
        "write a result's labels and shots as Video Intelligence API JSON, one file per video",
    ),
    "search": Command(
        "vidlabel.pipeline.commands.search",
        "the clips nearest a clip or a new video, or groups of duplicate videos, by embedding (--embeddings)",
    ),
    "train-head": Command(
        "vidlabel.pipeline.commands.train_head", "learn labels of your own from a few example clips' embeddings"
    ),
    "apply-head": Command(
        "vidlabel.pipeline.commands.apply_head", "write a train-head head's labels for every clip (custom_labels)"
    ),
    "report": Command("vidlabel.pipeline.commands.report", "a static web site of a result, to open in any browser"),
}
USAGE = "usage: vidlabel COMMAND [flags]   (vidlabel COMMAND --help)\n\ncommands:\n" + "".join(
    f"  {name:<{max(map(len, COMMANDS))}} {command.summary}\n" for name, command in COMMANDS.items()
)


def main(argv: list[str] | None = None) -> int:
    """Runs one command; a `VidlabelError` it raises is reported the one way (`errors.report`), exit status 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, here and in workers
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return EXIT_OK if argv else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    if command in ("-V", "--version"):
        print(f"vidlabel {__version__}")
        return EXIT_OK
    if command not in COMMANDS:
        print(f"vidlabel: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
        return EXIT_USAGE
    try:
        if command == "run":
            return run(rest)
        return importlib.import_module(COMMANDS[command].module).main(rest)
    except VidlabelError as exc:
        return errors.report(command, exc, sys.stderr)


def run(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        help_parser().print_help()
        return EXIT_OK
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        options = parse_options(argv)
        opts = options.view_as(VidlabelOptions)
        opts.check()
    except VidlabelError as exc:
        return errors.report("run", exc, sys.stderr)
    with RunConsole(verbose=opts.verbose) as console:
        return _run(options, opts, started, console)


def _run(options: PipelineOptions, opts: VidlabelOptions, started, console: RunConsole) -> int:
    out = console.stream
    try:
        FileSystems.set_options(options)  # the job's credentials (e.g. --impersonate_service_account) for gs://
        with publish.OutputLock(opts.output):
            plan = plan_job(options)
            for note in plan.notes:
                print(f"vidlabel: {note}", file=out)
            if plan.dry_run:
                validate_job(plan, options, out)
                return EXIT_OK
            try:
                record = label(plan, options, started, console)
            except Exception as exc:  # the job failed: said in full, nothing published, the log kept
                log = console.keep(publish.failed_log_path(plan.outputs))
                traceback.print_exc(file=out)
                where = f"; the run's log: {log}" if log else ""
                print(
                    f"vidlabel run: error: the job failed ({type(exc).__name__}); nothing was published{where}",
                    file=out,
                )
                return EXIT_FAILED
    except VidlabelError as exc:  # said on the console: descriptor 2 is the run's log until the run ends
        return errors.report("run", exc, out)
    print_summary(plan, record, out)
    return EXIT_OK


def validate_job(plan: JobPlan, options: PipelineOptions, out) -> None:
    """--dry_run: builds the whole job and lets the runner validate it without submitting it (Dataflow's dry run
    also packages the code for the workers), then prints what the last pipeline would stage."""
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    for batch in plan.batches:  # a Dataflow job has one batch of files (and, with --incremental, the kept pass)
        pipeline = beam.Pipeline(options=options)
        graph.build(pipeline, plan, batch)
        result = pipeline.run()
    cloud, workers, debug = (options.view_as(c) for c in (GoogleCloudOptions, WorkerOptions, DebugOptions))
    lines = [
        f"vidlabel: dry run: the job is valid and was not submitted (model {plan.model_name} -> {plan.output})",
        f"  project {cloud.project}, region {cloud.region}, temp {cloud.temp_location}; workers: "
        f"{workers.machine_type or 'default'} x up to {workers.max_num_workers or 'default'}, "
        f"{debug.number_of_worker_harness_threads or 'default'} threads, "
        f"image {workers.sdk_container_image or 'default'}, "
        f"service options {cloud.dataflow_service_options or 'none'}",
    ]
    job = getattr(result, "job", None)
    environments = job.proto_pipeline.components.environments.values() if job is not None else []
    for dependency in (d for env in environments for d in env.dependencies):
        if dependency.type_urn != common_urns.artifact_types.FILE.urn or (
            dependency.role_urn != common_urns.artifact_roles.STAGING_TO.urn
        ):
            continue
        source = beam_runner_api_pb2.ArtifactFilePayload.FromString(dependency.type_payload).path
        staged = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dependency.role_payload).staged_name
        lines.append(f"  would stage {staged} <- {source}")
    print("\n".join(lines), file=out)


def label(plan: JobPlan, options: PipelineOptions, started, console: RunConsole) -> dict:
    """Runs the batches' pipelines into the staging folder, one after another, then publishes the result with its
    run record."""
    kept = plan.num_listed - plan.num_to_label
    labelled = [b for b in plan.batches if not b.is_kept_pass]
    in_batches = f" in {len(labelled)} batches of up to {plan.files_per_batch} files" if len(labelled) > 1 else ""
    print(
        f"vidlabel: {plan.num_to_label} video(s) to label{in_batches}"
        + (f" ({kept} unchanged kept from run {plan.outputs.previous_run})" if plan.keep_from else "")
        + f" -> {plan.output}  (model {plan.model_name}: {plan.clip_spec.fps:g} fps, {plan.clip_spec.resolution}px, "
        f"clips of {plan.clip_spec.clip_frames} frames; run {plan.run_id})",
        file=console.stream,
    )
    show_progress = is_local_runner(options)
    with tempfile.TemporaryDirectory(prefix="vidlabel-progress-") as progress_dir:
        progress_path = os.path.join(progress_dir, "progress.jsonl") if show_progress else None

        def run_batches():
            for batch in plan.batches:
                pipeline = beam.Pipeline(options=options)
                graph.build(pipeline, plan, batch, progress_path)
                pipeline.run().wait_until_finish()
                batches.mark_done(plan.outputs.staging, batch)

        if progress_path:
            run_with_progress_bar(run_batches, plan.num_to_label, progress_path, console.stream, plan.num_resumed)
        else:
            run_batches()
    staging = plan.outputs.staging
    shots = publish.read_table(staging, "shots", columns=["video_uri"])
    shot_uris = set(shots.column("video_uri").unique().to_pylist()) if shots is not None else set()
    record = run_record(plan, options, started, publish.read_table(staging, "videos"), shot_uris)
    return publish.publish(plan.outputs, record, console.snapshot())


def run_record(plan: JobPlan, options: PipelineOptions, started, videos, shot_uris: set[str]) -> dict:
    """What `run.json` says about a run: enough to trace any output back to how it was made. `shot_uris`: the
    videos the result's shots table holds (every video decoded by vidlabel 0.5 or later has a shot)."""
    finished = datetime.datetime.now(datetime.timezone.utc)
    columns = ["video_uri", "status", "run_id", "num_clips", "num_frames", "duration_s", *schema.VIDEO_COLUMNS_ADDED]
    rows = videos.select(columns).to_pylist() if videos is not None else []
    mine = [r for r in rows if r["run_id"] == plan.run_id]
    kept = [r for r in rows if r["run_id"] != plan.run_id]
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "run_id": plan.run_id,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "elapsed_s": round((finished - started).total_seconds(), 1),
        "versions": {
            "vidlabel": __version__,
            **{name: _version(name) for name in ("apache-beam", "av", "tensorflow", "ai-edge-litert")},
        },
        "model": {
            "name": plan.model_name,
            "path": plan.model_path,
            "staged": plan.model_uri if plan.model_uri != plan.model_path else None,  # what Dataflow workers load
            "kind": plan.signature.kind,
            "sha256": plan.labelling["model_sha256"],
        },
        # --embeddings: their size and the model that made them (embeddings of different models do not compare).
        "embeddings": {"dim": plan.signature.embedding_dim, "model": plan.model_name} if plan.embeddings else None,
        # --thumbnails: how often they were taken within a shot (None: off; an older result has no such key).
        "thumbnails": (
            {"every_s": plan.decode_options.thumbnails_every_s} if plan.decode_options.thumbnails_every_s else None
        ),
        # --sparse_decode: the clips are the same either way; the shots and thumbnails come from the frames decoded.
        "sparse_decode": plan.decode_options.sparse,
        # --fast_decode: ticks that show a frame left undecoded take the one before it (also in labelling).
        "fast_decode": plan.decode_options.fast,
        # --files_per_batch: how the files were split into pipelines (0: one), and how many files the interrupted
        # run this one continued had labelled (its run id is that run's).
        "batches": {
            "files_per_batch": plan.files_per_batch,
            "resumed_files": plan.num_resumed,
        },
        "labelling": plan.labelling,
        "options": json.loads(json.dumps(options.get_all_options(drop_default=True), default=str)),
        "counts": {
            "listed": plan.num_listed,
            "labelled": len(mine),
            "ok": sum(r["status"] == "ok" for r in mine),
            "error": sum(r["status"] != "ok" for r in mine),
            "kept": len(kept),
            # kept videos labelled by an older vidlabel: the outputs it did not write are null or missing for them
            "kept_without_new_outputs": sum(
                r["status"] == "ok"
                and (all(r[c] is None for c in schema.VIDEO_COLUMNS_ADDED) or r["video_uri"] not in shot_uris)
                for r in kept
            ),
            "clips": sum(r["num_clips"] or 0 for r in mine),
            "frames": sum(r["num_frames"] or 0 for r in mine),
            "video_seconds": round(sum(r["duration_s"] or 0.0 for r in mine), 1),
        },
        "previous_run": plan.outputs.previous_run,
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def print_summary(plan: JobPlan, record: dict, out) -> None:
    counts = record["counts"]
    lines = [
        f"vidlabel: done in {record['elapsed_s']:.1f} s: {counts['ok']} video(s) ok, {counts['error']} failed; "
        f"{counts['clips']} clips, {counts['frames']} frames, {counts['video_seconds']:.1f} s of video"
        + (f"; {counts['kept']} kept from the published result" if plan.keep_from else ""),
    ]
    if counts["kept_without_new_outputs"]:
        lines.append(
            f"  {counts['kept_without_new_outputs']} kept video(s) were labelled by an older vidlabel: what it did "
            "not write is empty for them (the shots and segments tables since 0.5; the columns "
            f"{', '.join(schema.VIDEO_COLUMNS_ADDED)} since 0.3); --overwrite labels everything anew"
        )
    if counts["error"]:
        videos = publish.read_table(plan.output, "videos").to_pylist()
        failed = [r for r in videos if r["status"] != "ok" and r["run_id"] == plan.run_id]
        for r in failed[:10]:
            lines.append(f"  failed: {r['video_uri']}: {r['error']}")
        if len(failed) > 10:
            lines.append(f"  ... and {len(failed) - 10} more (see errors-*.parquet)")
    log = f", log: {plan.output}/{publish.RUN_LOG}" if record.get("log") else ""
    lines.append(
        f"  tables: {plan.output}/{{{','.join(schema.TABLES)}}}-*.parquet  (run record: {plan.output}/run.json{log})"
    )
    print("\n".join(lines), file=out)


def entry_point() -> None:
    """The console script. Exits with os._exit once everything is written and flushed: after a model ran in this
    process (Beam's in_memory mode), TensorFlow's native threads can abort a normal interpreter shutdown
    ("terminate called without an active exception", SIGABRT) and turn a finished run into exit status 134."""
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    entry_point()
