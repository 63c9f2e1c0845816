"""vidlabel's flags, declared the Beam way so the same command line works on every runner.

`vidlabel run --input DIR --output OUT` and `vidlabel run --runner DataflowRunner ...` read the same
`VidlabelOptions`; Beam's own flags (`--runner`, `--direct_num_workers`, Dataflow's) pass straight through.
"""

from __future__ import annotations

import argparse
import math

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions, _BeamArgumentParser

from vidlabel.pipeline.batches import DEFAULT_FILES_PER_BATCH
from vidlabel.transforms.errors import UsageError
from vidlabel.transforms.listing import DEFAULT_EXTENSIONS
from vidlabel.transforms.thumbnails import DEFAULT_EVERY_S as DEFAULT_THUMBNAILS_EVERY_S
from vidlabel.transforms.thumbnails import MIN_GAP_S
from vidlabel.transforms.types import RESIZE_MODES, WINDOW_MODES, DecodeLimits, DecodeOptions

DEFAULT_MIN_SCORE = 0.3

# The local default: Beam 2.77's DirectRunner first tries to download the Prism runner binary (minutes offline).
# FnApiRunner runs in this process with no download; multi_processing with one SDK worker per core (0 = all
# cores) uses every core, each worker process holding one shared model.
LOCAL_RUNNER_DEFAULTS = ("--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=0")


class VidlabelOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input",
            action="append",
            default=[],
            help="A video file, a folder (searched recursively for video files), or a glob (local or gs://). "
            "Repeat to give several.",
        )
        parser.add_argument(
            "--manifest", default=None, help="A text file of video URIs, one a line (# comments, blank lines ok)."
        )
        parser.add_argument(
            "--output", default=None, help="Folder or gs:// prefix for the predictions/videos/errors Parquet files."
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            default=False,
            help="Label every listed file and replace the result already in --output (published only once the "
            "run succeeds).",
        )
        parser.add_argument(
            "--incremental",
            action="store_true",
            default=False,
            help="Keep the published rows of files that have not changed (same URI, size and modification time) "
            "and label only new or changed files; the new result holds both. Resumes a killed run, and updates a "
            "result as an archive grows. Works on an empty --output too.",
        )
        parser.add_argument(
            "--retry_errors",
            action="store_true",
            default=False,
            help="With --incremental: also label again the files whose published row is an error (a timeout or an "
            "out-of-memory on a busy machine is not a property of the file).",
        )
        parser.add_argument(
            "--model",
            default="a0-base",
            help="A published alias (a0-base ... a5-base, a0-stream ... a5-stream, a0-stream-tflite ... "
            "a2-stream-tflite), a TF Hub/Kaggle URL, a SavedModel folder or .tflite file (local or gs://), e.g. one "
            "made by `vidlabel export-model` or `vidlabel finetune`. Default: %(default)s.",
        )
        parser.add_argument(
            "--label_file",
            default=None,
            help="Class names, one a line, in classifier order (default: the model's own). Not --labels: Beam "
            "uses that for Dataflow job labels.",
        )
        parser.add_argument(
            "--top_k",
            type=int,
            help="Classes kept per clip and per video (default 5, or all when the model has fewer).",
        )
        parser.add_argument(
            "--all_scores", action="store_true", default=False, help="Also write every class probability per clip."
        )
        parser.add_argument(
            "--clip_seconds",
            type=float,
            default=None,
            help="Clip length in seconds (default: the model's own, 10 s for the published models).",
        )
        parser.add_argument(
            "--stride_seconds", type=float, default=None, help="Seconds between clip starts (default: the clip length)."
        )
        parser.add_argument("--fps", type=float, default=None, help="Model frame rate (default: the model's own).")
        parser.add_argument(
            "--resolution", type=int, default=None, help="Model input side in pixels (default: the model's own)."
        )
        parser.add_argument(
            "--resize",
            choices=RESIZE_MODES,
            default="crop",
            help="crop: short side to the resolution then centre crop (Model Garden's evaluation); "
            "stretch: plain resize to a square (the tutorial's). Default: %(default)s.",
        )
        parser.add_argument(
            "--batch_size", type=int, default=4, help="Most clips scored in one model call. Default: %(default)s."
        )
        parser.add_argument(
            "--stream_states",
            choices=("clip", "video"),
            default="clip",
            help="Stream and TFLite models: 'clip' starts every clip from fresh states (rows mean what base-model "
            "rows mean); 'video' carries states through the whole video (the tutorial's cumulative prediction, "
            "reported at each clip's last frame). Default: %(default)s.",
        )
        parser.add_argument(
            "--windows",
            choices=WINDOW_MODES,
            default="fixed",
            help="fixed: clips of --clip_seconds one after another, across cuts; shots: a clip also ends where its "
            "shot ends, so no clip shows two shots (a piece of a shot shorter than 1 s, or than half a clip if "
            "that is less, joins the next shot's first clip). "
            "Default: %(default)s.",
        )
        parser.add_argument(
            "--min_score",
            type=float,
            default=DEFAULT_MIN_SCORE,
            help="The segments table: a label's segment is a run of clips where it scores at least this. Default: "
            "%(default)s (Video Intelligence's default).",
        )
        parser.add_argument(
            "--frame_labels",
            action="store_true",
            default=False,
            help="Stream and TFLite models: also write the top k once a second (the frame_labels table), from the "
            "prediction the model makes at each whole second of the clip (--stream_states says from which frames).",
        )
        parser.add_argument(
            "--embeddings",
            action="store_true",
            default=False,
            help="Also write each clip's embedding (the backbone's pooled features before the classifier head, "
            "L2-normalised; A0: 480 numbers) in the predictions table, and each video's and shot's mean, for "
            "`vidlabel search` and `vidlabel train-head`. Every model form gives them.",
        )
        parser.add_argument(
            "--sparse_decode",
            choices=("on", "off"),
            default="off",
            help="on: leave undecoded the non-reference frames (most B-frames of H.264 and HEVC) that no model tick "
            "shows: the clips are the same bit for bit, decoding takes a third to a half less time on B-frame "
            "video, and the shot detector and thumbnails see only the frames decoded (cuts found up to a frame or "
            "two late; more false cuts on shaky footage). Other codecs decode every frame. Default: %(default)s.",
        )
        parser.add_argument(
            "--fast_decode",
            choices=("on", "off"),
            default="off",
            help="on: leave undecoded every non-reference frame of H.264 and HEVC (most B-frames), even one a "
            "model tick shows (that tick takes the frame decoded before it, a frame or two earlier), and skip the "
            "decoder's loop filter (deblocking) on every codec that has one: clips and scores may differ a little "
            'from decoding everything (measured in bench/README.md, "Fast decoding"). The shot detector and '
            "thumbnails see only the frames decoded. A labelling setting: --incremental refuses to mix it. "
            "Default: %(default)s.",
        )
        parser.add_argument(
            "--thumbnails",
            default=f"{DEFAULT_THUMBNAILS_EVERY_S:g}",
            help="N or off. Small JPEGs taken while decoding, for `vidlabel report` (the thumbnails table): one "
            "a short way into each shot, and one every N seconds within a long shot, never two within 1 s. "
            "Default: %(default)s.",
        )
        parser.add_argument(
            "--files_per_batch",
            type=int,
            default=None,
            help="Label the files this many at a time, one pipeline after another, into one result published at "
            "the end: the local runner's memory grows with the files of one pipeline, and a killed run continues "
            "from its last finished batch when run again. 0: every file in one pipeline. Default: "
            f"{DEFAULT_FILES_PER_BATCH} on local runners, 0 on Dataflow.",
        )
        parser.add_argument(
            "--decode_timeout_seconds",
            type=float,
            default=DecodeLimits().timeout_s,
            help="A file whose decoder gives no clip for this long is stopped and gets an error row (hangs, "
            "blocking reads). Default: %(default)s.",
        )
        parser.add_argument(
            "--decode_memory_mb",
            type=int,
            default=DecodeLimits().memory_mb,
            help="Memory (address space, MB) that decoding one file may add to its decoder process, above what the "
            "process holds when it starts; a file that "
            "needs more gets an error row. Default: %(default)s.",
        )
        parser.add_argument(
            "--max_frame_pixels",
            type=int,
            default=DecodeLimits().max_frame_pixels,
            help="Frames larger than this (width x height) are refused before they are decoded. Default: "
            "%(default)s (8K UHD).",
        )
        parser.add_argument(
            "--extensions",
            default=",".join(DEFAULT_EXTENSIONS),
            help="Comma-separated file extensions taken from folders (case-insensitive). Default: %(default)s.",
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            default=False,
            help="Show everything live: TensorFlow's, Beam's and FFmpeg's own messages, which otherwise go to the "
            "run's log (published as OUTPUT/run.log).",
        )

    def decode_options(self) -> DecodeOptions:
        """--sparse_decode, --fast_decode and --thumbnails (seconds between a shot's thumbnails, None when off), as
        `check` has validated them."""
        return DecodeOptions(
            sparse=self.sparse_decode == "on",
            fast=self.fast_decode == "on",
            thumbnails_every_s=None if self.thumbnails == "off" else float(self.thumbnails),
        )

    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(
            timeout_s=self.decode_timeout_seconds,
            memory_mb=self.decode_memory_mb,
            max_frame_pixels=self.max_frame_pixels,
        )

    def check(self) -> None:
        """Checks that need no file or network access; raises UsageError with a fix."""
        if not self.input and not self.manifest:
            raise UsageError("give the videos to label with --input PATH (file, folder or glob) or --manifest FILE")
        if not self.output:
            raise UsageError("give --output DIR (a folder or gs:// prefix for the Parquet files)")
        if self.overwrite and self.incremental:
            raise UsageError("--overwrite relabels everything and --incremental keeps unchanged files: give one")
        if self.retry_errors and not self.incremental:
            raise UsageError("--retry_errors relabels the failed files of a published result: add --incremental")
        if not self.decode_timeout_seconds > 0:
            raise UsageError(f"--decode_timeout_seconds must be positive, not {self.decode_timeout_seconds}")
        if self.decode_memory_mb < 64:
            raise UsageError(f"--decode_memory_mb must be at least 64, not {self.decode_memory_mb}")
        if self.max_frame_pixels < 64:
            raise UsageError(f"--max_frame_pixels must be at least 64, not {self.max_frame_pixels}")
        if self.top_k is not None and self.top_k < 1:
            raise UsageError(f"--top_k must be at least 1, not {self.top_k}")
        if not 0 < self.min_score <= 1:
            raise UsageError(f"--min_score is a probability in (0, 1], not {self.min_score}")
        if self.thumbnails != "off":
            try:
                every_s = float(self.thumbnails)
            except ValueError:
                every_s = math.nan
            if not every_s >= MIN_GAP_S:
                raise UsageError(
                    f"--thumbnails {self.thumbnails}: give the seconds between thumbnails within a shot (at least "
                    f"{MIN_GAP_S:g}), or off"
                )
        if self.files_per_batch is not None and self.files_per_batch < 0:
            raise UsageError(f"--files_per_batch must be 0 (one batch) or more, not {self.files_per_batch}")
        if self.batch_size < 1:
            raise UsageError(f"--batch_size must be at least 1, not {self.batch_size}")
        for flag in ("clip_seconds", "stride_seconds", "fps"):
            value = getattr(self, flag)
            if value is not None and not value > 0:
                raise UsageError(f"--{flag} must be a positive number of seconds/frames, not {value}")
        if self.resolution is not None and self.resolution < 8:
            raise UsageError(f"--resolution must be at least 8 pixels, not {self.resolution}")
        if not [e for e in self.extensions.split(",") if e.strip()]:
            raise UsageError("--extensions needs at least one extension, e.g. --extensions mp4,mkv")


def parse_options(argv: list[str]) -> PipelineOptions:
    """Beam options from a `vidlabel run` command line, with the local runner defaults placed first so that any
    flag the user gives wins. A flag no options class knows is an error (Beam itself would only log it)."""
    parser = _BeamArgumentParser(allow_abbrev=False)
    for options_class in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        options_class._add_argparse_args(parser)  # the same parser Beam builds in get_all_options()
    _, unknown = parser.parse_known_args(argv)
    if unknown:
        raise UsageError(f"unknown flag(s): {' '.join(unknown)} (see `vidlabel run --help`)")
    options = PipelineOptions(list(LOCAL_RUNNER_DEFAULTS) + list(argv))
    # Beam's --dry_run is a string that Beam tests by truth, so "--dry_run=False" would skip the submission while
    # vidlabel published an empty result: it becomes a real bool here, and anything else is refused.
    test_options = options.view_as(TestOptions)
    value = str(test_options.dry_run).lower()
    if value not in ("true", "false", "1", "0"):
        raise UsageError(f"--dry_run={test_options.dry_run}: give --dry_run=True or --dry_run=False")
    test_options.dry_run = value in ("true", "1")
    return options


def is_dry_run(options: PipelineOptions) -> bool:
    return bool(options.view_as(TestOptions).dry_run)  # a bool since parse_options


def is_local_runner(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner or ""
    return runner.split(".")[-1] in StandardOptions.LOCAL_RUNNERS


def help_parser() -> argparse.ArgumentParser:
    """`vidlabel run --help`: vidlabel's own flags (Beam's are accepted too, and documented by Beam)."""
    parser = argparse.ArgumentParser(
        prog="vidlabel run",
        description="Label videos with MoViNet and write Parquet tables. Beam's own flags (--runner, "
        "--direct_num_workers, Dataflow's) are accepted too.",
    )
    VidlabelOptions._add_argparse_args(parser)
    return parser


def flags_markdown() -> str:
    """docs/flags.md, generated from the flags' own help (`python -m vidlabel.pipeline.options > docs/flags.md`;
    a test keeps the file in step with the code)."""
    lines = [
        "# `vidlabel run` flags",
        "",
        "Generated from the flags' own help by `python -m vidlabel.pipeline.options > docs/flags.md`; the same text",
        "as `vidlabel run --help`. Beam's own flags (`--runner`, `--direct_num_workers`, Dataflow's: see",
        "[google-cloud.md](google-cloud.md)) are accepted as well.",
        "",
        "| flag | what it does |",
        "| --- | --- |",
    ]
    for action in help_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = "" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}"
        text = (action.help or "") % {**vars(action), "prog": "vidlabel run"}
        if action.choices:
            text += f" Choices: {', '.join(map(str, action.choices))}."
        lines.append(f"| `{action.option_strings[0]}{value}` | {text.replace('|', '&#124;')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(flags_markdown(), end="")
