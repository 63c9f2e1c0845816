"""`vidlabel finetune` on a set it cannot learn: the warning, where it is kept, and `vidlabel run` repeating it.

A file of its own so that `--dist loadfile` can run it beside test_finetune.py's long module-scoped training.
"""

import json

from test_finetune import TRAIN_FLAGS

from conftest import IN_PROCESS, SHARED, vidlabel


def test_a_set_it_cannot_learn_gets_a_warning_that_run_repeats(tmp_path):
    """The same footage under two labels: nothing can tell them apart, so the kept epoch scores chance exactly (every
    validation clip of one label has its identical twin under the other)."""
    data = tmp_path / "data"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for i in range(2):
            (data / label / f"{label}-{i}.mp4").symlink_to(SHARED / "videos" / "k400_arm_wrestling_h264.mp4")
    model = tmp_path / "model"
    trained = vidlabel("finetune", "--data", data, "--out", model, *TRAIN_FLAGS, "--epochs", 2)
    assert "WARNING: validation accuracy 0.50 is near chance (0.50)" in trained.stdout
    assert trained.stdout.rstrip().splitlines()[-1].startswith("WARNING: validation accuracy 0.50")  # said last too
    record = json.loads((model / "training.json").read_text())
    assert len(record["warnings"]) == 1 and "--init MODEL" in record["warnings"][0]
    assert json.loads((model / "vidlabel.json").read_text())["training_warnings"] == record["warnings"]
    labelled = vidlabel(
        "run",
        *IN_PROCESS,
        "--input",
        SHARED / "videos" / "bear_vp9_161x121_odd.webm",
        "--output",
        tmp_path / "out",
        "--model",
        model,
    )
    said = labelled.stdout + labelled.stderr
    assert said.count("WARNING: vidlabel finetune warned of the model") == 1 and "near chance" in said
