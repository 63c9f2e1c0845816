"""The DuckDB recipes of docs/sql.md on a real `vidlabel run`: hand-written tables (the unit tier,
`tests/unit/test_sql_recipes.py`, which also parses the BigQuery recipes) show the recipes' logic, this shows they
read what the pipeline really writes, with the answers computed from the same files in Python."""

import shutil

import pytest
from unit.test_sql_recipes import CHECKS

from conftest import IN_PROCESS, VIDEOS, vidlabel

# Two human actions, a rotated phone video and ten minutes of countdown: shots, segments and per-second labels.
REAL = (
    "anet_clean_and_jerk_h264.mp4",
    "k400_arm_wrestling_h264.mp4",
    "mug_rotate270_h264.mp4",
    "countdown_10min_1fps.mkv",
)


@pytest.fixture(scope="module")
def real_output(lite_model, tmp_path_factory):
    """Every table of one run of the TFLite stream model with --frame_labels and --embeddings; a low --min_score,
    since a model with random weights spreads its probability over the 600 classes."""
    root = tmp_path_factory.mktemp("sql")
    for name in REAL:
        shutil.copy(VIDEOS / name, root / name)
    out = root / "out"
    flags = ("--model", lite_model, "--frame_labels", "--embeddings", "--min_score", "0.002")
    vidlabel("run", *IN_PROCESS, "--input", root, "--output", out, *flags)
    return out


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_duckdb_recipe_answers_right_on_a_real_run(name, real_output):
    CHECKS[name](real_output)
