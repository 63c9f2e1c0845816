"""The one way every command reports a user error, and the exit statuses that go with it."""

import io

from vidlabel.transforms import errors


def test_report_says_the_command_and_the_fix_and_returns_the_usage_status():
    out = io.StringIO()
    status = errors.report("finetune", errors.UsageError("--epochs must be at least 1"), out)
    assert status == errors.EXIT_USAGE == 2
    assert out.getvalue() == "vidlabel finetune: error: --epochs must be at least 1\n"


def test_every_user_error_is_a_vidlabel_error_and_the_statuses_differ():
    assert issubclass(errors.UsageError, errors.VidlabelError) and issubclass(errors.ModelError, errors.VidlabelError)
    assert not issubclass(errors.ModelError, errors.UsageError)
    assert (errors.EXIT_OK, errors.EXIT_FAILED, errors.EXIT_USAGE) == (0, 1, 2)
