"""Dynamic-range int8 TFLite against the float stream SavedModel it was converted from (same export, same
weights), through the whole pipeline. Slow (a second stream export): `pytest -m slow`."""

import duckdb
import numpy as np
import pytest
from test_stream import SOME_VIDEOS

from conftest import VIDEOS, small_export_args, vidlabel

# int8 logits move the probabilities by well under this on the shared videos (bench/README.md has the figure).
INT8_TOLERANCE = 2e-3


@pytest.mark.slow
def test_int8_tflite_is_close_to_the_float_model(tmp_path):
    model = tmp_path / "a0-stream-int8"
    vidlabel(*small_export_args(model, "--mode", "stream", "--tflite", "--quantize", "int8"))
    inputs = [arg for name in SOME_VIDEOS for arg in ("--input", VIDEOS / name)]
    for name, path in [("float", model), ("int8", model / "model.tflite")]:
        vidlabel("run", *inputs, "--output", tmp_path / name, "--model", path, "--all_scores")
    query = "select video_uri, clip_index, scores, top_k[1].label from '{}/predictions-*.parquet' order by all"
    a = duckdb.sql(query.format(tmp_path / "float")).fetchall()
    b = duckdb.sql(query.format(tmp_path / "int8")).fetchall()
    assert [r[:2] for r in a] == [r[:2] for r in b]
    diff = max(np.abs(np.array(x[2]) - np.array(y[2])).max() for x, y in zip(a, b))
    print(
        f"int8 vs float: max |probability diff| {diff:.2e}; "
        f"top-1 agreement {np.mean([x[3] == y[3] for x, y in zip(a, b)]):.2f}"
    )
    assert diff <= INT8_TOLERANCE
