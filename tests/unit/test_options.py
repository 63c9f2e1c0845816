"""`vidlabel run` flags: the generated flags page, parsing, and the checks that need no file or network."""

import pathlib

import pytest
from apache_beam.options.pipeline_options import StandardOptions

from vidlabel.pipeline import options
from vidlabel.pipeline.options import VidlabelOptions
from vidlabel.transforms.errors import UsageError

FLAGS_PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "flags.md"
GOOD = ["--input", "videos", "--output", "out"]


def test_docs_flags_page_is_generated_from_the_current_flags():
    assert FLAGS_PAGE.read_text() == options.flags_markdown(), (
        "docs/flags.md is stale: python -m vidlabel.pipeline.options > docs/flags.md"
    )


def test_parse_options_refuses_unknown_flags_and_lets_the_user_override_the_local_defaults():
    with pytest.raises(UsageError, match=r"unknown flag\(s\): --input_dir x"):
        options.parse_options([*GOOD, "--input_dir", "x"])
    with pytest.raises(UsageError, match="--dry_run=maybe: give --dry_run=True or --dry_run=False"):
        options.parse_options([*GOOD, "--dry_run=maybe"])
    parsed = options.parse_options([*GOOD, "--input", "more", "--dry_run=False"])
    assert parsed.view_as(StandardOptions).runner == "FnApiRunner" and options.is_local_runner(parsed)
    assert parsed.view_as(VidlabelOptions).input == ["videos", "more"] and options.is_dry_run(parsed) is False
    dataflow = options.parse_options([*GOOD, "--runner", "DataflowRunner", "--dry_run=True"])
    assert not options.is_local_runner(dataflow) and options.is_dry_run(dataflow) is True


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--output", "out"], "give the videos to label with --input PATH"),
        (["--input", "v"], "give --output DIR"),
        ([*GOOD, "--overwrite", "--incremental"], "--overwrite relabels everything and --incremental keeps"),
        (
            [*GOOD, "--retry_errors"],
            "--retry_errors relabels the failed files of a published result: add --incremental",
        ),
        ([*GOOD, "--decode_timeout_seconds", "0"], "--decode_timeout_seconds must be positive, not 0.0"),
        ([*GOOD, "--decode_memory_mb", "32"], "--decode_memory_mb must be at least 64, not 32"),
        ([*GOOD, "--top_k", "0"], "--top_k must be at least 1, not 0"),
        ([*GOOD, "--batch_size", "0"], "--batch_size must be at least 1, not 0"),
        ([*GOOD, "--fps", "-5"], "--fps must be a positive number"),
        ([*GOOD, "--resolution", "4"], "--resolution must be at least 8 pixels, not 4"),
        ([*GOOD, "--extensions", " , "], "--extensions needs at least one extension"),
    ],
)
def test_check_refuses_inconsistent_flags_with_a_fix(flags, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        options.parse_options(flags).view_as(VidlabelOptions).check()


def test_good_flags_pass_the_check_and_give_the_decode_limits():
    opts = options.parse_options([*GOOD, "--decode_memory_mb", "512"]).view_as(VidlabelOptions)
    opts.check()
    assert opts.decode_limits().memory_mb == 512 and opts.decode_limits().timeout_s == 300.0
