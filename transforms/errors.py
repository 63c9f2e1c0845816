"""The one rule for how every vidlabel command ends, and the errors that carry it.

A problem the user can fix (a bad flag, a missing file, a model that cannot be had) is raised anywhere as a
`VidlabelError`; only the command line (`vidlabel.pipeline.cli`) turns it into `vidlabel COMMAND: error: MESSAGE`
and `EXIT_USAGE`. Library code never prints an error or exits: what follows an error is the caller's choice (the
tests, `demo` calling `finetune`, a notebook). Work that started and then failed ends with `EXIT_FAILED`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the work started and failed (a job, a training); what was written is said
EXIT_USAGE = 2  # nothing was done; the message says what to fix (argparse's own status for bad flags)


class VidlabelError(Exception):
    """A problem the user can fix; the message says how."""


class UsageError(VidlabelError):
    """A bad flag or input: the command stops before any work."""


class ModelError(VidlabelError):
    """The model (or its labels) cannot be had or used; the message says what to do (never random weights)."""


def report(command: str, error: VidlabelError, out) -> int:
    """Says a user error the one way every command says it; returns the exit status that goes with it."""
    print(f"vidlabel {command}: error: {error}", file=out)
    return EXIT_USAGE
