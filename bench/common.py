"""What the benchmarks share: how they start vidlabel, as a user's shell would."""

import sys


def vidlabel_command(*args) -> list[str]:
    """`vidlabel ARGS` as a command line for this interpreter (the installed console script's equivalent)."""
    return [sys.executable, "-m", "vidlabel.pipeline.cli", *map(str, args)]
