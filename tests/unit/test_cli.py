"""The exit-status rule of `vidlabel COMMAND`: a user error is one line on stderr and status 2, before any work."""

import os
import pathlib
import re

from vidlabel.pipeline import __version__, cli


def test_a_command_raising_a_usage_error_exits_2_with_one_line_and_does_nothing(tmp_path, capsys):
    out = tmp_path / "videos"
    assert cli.main(["synth", "--classes", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vidlabel synth: error: --classes: unknown nope; choose from ")
    assert err.count("\n") == 1 and not out.exists()


def test_run_refuses_bad_flags_with_status_2_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "--input", str(tmp_path), "--output", str(out), "--frobnicate", "1"]) == 2
    assert "vidlabel run: error: unknown flag(s): --frobnicate 1" in capsys.readouterr().err
    assert cli.main(["run", "--input", str(tmp_path), "--output", str(out), "--overwrite", "--incremental"]) == 2
    assert "vidlabel run: error: --overwrite relabels everything" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []  # refused before the output lock: nothing written


def test_unknown_command_no_command_help_and_version(capsys):
    assert cli.main(["frobnicate"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("vidlabel: unknown command 'frobnicate'") and "commands:" in captured.err
    assert cli.main([]) == 2 and capsys.readouterr().out == cli.USAGE
    assert cli.main(["--help"]) == 0 and capsys.readouterr().out == cli.USAGE
    assert cli.main(["--version"]) == 0 and capsys.readouterr().out == f"vidlabel {__version__}\n"


def test_embeddings_from_a_model_without_a_movinet_head_are_refused_before_any_work(tiny_base_model, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("run\njump\nswim\nsit\n")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"listed, never opened")
    out = tmp_path / "out"
    flags = ["--model", tiny_base_model, "--label_file", str(labels), "--embeddings"]
    assert cli.main(["run", "--input", str(tmp_path / "videos"), "--output", str(out), *flags]) == 2
    assert "--embeddings reads the pooled features MoViNet's classifier head takes" in capsys.readouterr().err
    assert not out.exists()


def test_run_local_sh_knows_every_command_and_its_extras():
    """`./run_local.sh COMMAND` installs the extras a command needs from these two lists; a command missing from
    both is refused there as unknown (as train-head once was)."""
    script = (pathlib.Path(__file__).resolve().parents[2] / "run_local.sh").read_text()
    listed = {
        name: set(re.search(rf'^{name}="([^"]*)"', script, re.MULTILINE).group(1).split())
        for name in ("RUNTIME_COMMANDS", "EXPORT_COMMANDS")
    }
    assert listed["RUNTIME_COMMANDS"] | listed["EXPORT_COMMANDS"] == set(cli.COMMANDS)
    assert listed["EXPORT_COMMANDS"] == {"export-model", "finetune", "demo"}  # the ones that need Model Garden


def test_finetune_help_shows_every_default(capsys):
    """`vidlabel finetune --help` gives the value of every flag that has one, so a user knows the recipe they run."""
    from vidlabel.pipeline.commands import finetune

    try:
        cli.main(["finetune", "--help"])
    except SystemExit as stop:  # argparse's own exit after --help
        assert stop.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # unwrapped
    for action in finetune.parser()._actions:
        if action.default is not None and action.default is not False and action.default != "==SUPPRESS==":
            assert action.required or f"(default: {action.default})" in shown, action.dest
    assert "(default: None)" not in shown and "(default: False)" not in shown
    assert "(default: 0)" in shown  # --seed and --folds: a zero default is a default (0 == False in Python)
    # Epochs and patience depend on where the weights start: both defaults are given.
    assert "(default: 60 from random weights, 15 with --init)" in shown
    assert "(default: 20 from random weights, 5 with --init)" in shown
