"""The `vidlabel` command: `vidlabel run ...` labels videos; `vidlabel export-model ...` builds a model.

`run` takes Beam pipeline flags only (`VidlabelOptions` plus Beam's own), so the same command line works on the
local runner and on Dataflow. Before any work it resolves and checks everything (`plan.plan_job`); while a local
run goes it shows a progress bar, and at the end a summary read back from the written videos table.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from typing import Optional

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from vidlabel.pipeline import __version__, graph
from vidlabel.pipeline.options import UsageError, VidlabelOptions, is_local_runner, parse_options
from vidlabel.pipeline.plan import JobPlan, plan_job
from vidlabel.transforms.progress import ProgressFile

USAGE = """usage: vidlabel COMMAND [flags]

commands:
  run            label videos and write Parquet tables (vidlabel run --help)
  export-model   build a MoViNet model with Model Garden and export it (vidlabel export-model --help)
  plot           a video beside its top-k probabilities over time, as GIF/MP4, or a PNG timeline
  finetune       train MoViNet on your own labelled videos (vidlabel finetune --help)
  synth          render labelled synthetic action videos (vidlabel synth --help)
  demo           offline demo: synth -> finetune -> run on held-out videos -> DuckDB query
"""


def main(argv: Optional[list[str]] = None, test_pipeline: Optional[beam.Pipeline] = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, here and in workers
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in ("-V", "--version"):
        print(f"vidlabel {__version__}")
        return 0
    if command == "run":
        return run(rest, test_pipeline)
    if command == "export-model":
        from vidlabel.pipeline import export_model  # needs the `export` extra; imported only here

        return export_model.main(rest)
    if command == "plot":
        from vidlabel.pipeline import plot

        return plot.main(rest)
    if command == "finetune":
        from vidlabel.pipeline import finetune  # needs the `export` extra (Model Garden)

        return finetune.main(rest)
    if command == "synth":
        from vidlabel.pipeline import synth

        return synth.main(rest)
    if command == "demo":
        from vidlabel.pipeline import demo

        return demo.main(rest)
    print(f"vidlabel: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


def run(argv: list[str], test_pipeline: Optional[beam.Pipeline] = None) -> int:
    if "-h" in argv or "--help" in argv:
        help_parser = argparse.ArgumentParser(
            prog="vidlabel run", description="Label videos with MoViNet and write Parquet tables. Beam's own flags "
            "(--runner, --direct_num_workers, Dataflow's) are accepted too."
        )
        VidlabelOptions._add_argparse_args(help_parser)
        help_parser.print_help()
        return 0
    started = time.time()
    try:
        options = parse_options(argv)
        plan = plan_job(options.view_as(VidlabelOptions))
    except UsageError as exc:
        print(f"vidlabel run: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"vidlabel: {plan.num_videos} video(s) -> {plan.output}  (model {plan.model_name}: "
        f"{plan.clip_spec.fps:g} fps, {plan.clip_spec.resolution}px, clips of {plan.clip_spec.clip_frames} frames; "
        f"run {plan.run_id})",
        file=sys.stderr,
    )
    show_progress = test_pipeline is None and is_local_runner(options)
    with tempfile.TemporaryDirectory(prefix="vidlabel-progress-") as progress_dir:
        progress_path = os.path.join(progress_dir, "progress.jsonl") if show_progress else None
        pipeline = test_pipeline or beam.Pipeline(options=options)
        graph.build(pipeline, plan, progress_path)
        if progress_path:
            _run_with_progress(pipeline, plan, progress_path)
        else:
            pipeline.run().wait_until_finish()
    print_summary(plan, time.time() - started)
    return 0


def _run_with_progress(pipeline: beam.Pipeline, plan: JobPlan, progress_path: str) -> None:
    """Runs the pipeline in a thread while this one draws a progress bar from the workers' progress file."""
    from tqdm import tqdm

    failure: list[BaseException] = []

    def target():
        try:
            pipeline.run().wait_until_finish()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=target, name="vidlabel-pipeline", daemon=True)
    worker.start()
    progress = ProgressFile(progress_path)
    failed = clips = 0
    with tqdm(total=plan.num_videos, unit="video", desc="labelling", file=sys.stderr, dynamic_ncols=True) as bar:
        while worker.is_alive() or bar.n < plan.num_videos:
            for record in progress.new_records():
                failed += not record["ok"]
                clips += record["clips"]
                bar.update(1)
                bar.set_postfix(clips=clips, failed=failed, refresh=False)
            if not worker.is_alive():
                break
            worker.join(timeout=0.5)
    if failure:
        raise failure[0]


def read_table(output: str, name: str):
    import pyarrow as pa

    files = sorted(m.path for m in FileSystems.match([f"{output.rstrip('/')}/{name}-*.parquet"])[0].metadata_list)
    tables = []
    for path in files:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            tables.append(pq.read_table(f))
    return pa.concat_tables(tables) if tables else None


def print_summary(plan: JobPlan, elapsed_s: float) -> None:
    videos = read_table(plan.output, "videos")
    if videos is None:
        print(f"vidlabel: finished in {elapsed_s:.1f} s, but no videos table was written in {plan.output}", file=sys.stderr)
        return
    rows = videos.to_pylist()
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] != "ok"]
    lines = [
        f"vidlabel: done in {elapsed_s:.1f} s: {len(ok)} video(s) ok, {len(failed)} failed; "
        f"{sum(r['num_clips'] for r in ok)} clips, {sum(r['num_frames'] for r in ok)} frames, "
        f"{sum(r['duration_s'] for r in ok):.1f} s of video",
    ]
    for r in failed[:10]:
        lines.append(f"  failed: {r['video_uri']}: {r['error']}")
    if len(failed) > 10:
        lines.append(f"  ... and {len(failed) - 10} more (see errors-*.parquet)")
    lines.append(f"  tables: {plan.output.rstrip('/')}/{{predictions,videos,errors}}-*.parquet")
    print("\n".join(lines), file=sys.stderr)


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
