"""What the benchmarks share: how they start vidlabel, as a user's shell would, and the models they measure."""

import pathlib
import subprocess
import sys

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"


def vidlabel_command(*args) -> list[str]:
    """`vidlabel ARGS` as a command line for this interpreter (the installed console script's equivalent)."""
    return [sys.executable, "-m", "vidlabel.pipeline.cli", *map(str, args)]


def random_model(out: pathlib.Path, variant: str, mode: str, *flags: str) -> pathlib.Path:
    """A MoViNet with seeded random weights and the Kinetics-600 labels, exported once into OUT (speed does not
    depend on the weights)."""
    if not (out / "saved_model.pb").exists():
        labels = SHARED / "labels" / "kinetics_600_labels.txt"
        command = ("export-model", "--variant", variant, "--mode", mode, "--random_weights", "--out", out)
        subprocess.run(vidlabel_command(*command, "--labels", labels, *flags), check=True)
    return out
