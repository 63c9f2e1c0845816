"""`vidlabel run` end to end, as a user runs it: the real CLI, the default local runner (FnApiRunner, one SDK
worker process per core), real PyAV decoding of every shared video, a real exported MoViNet, and the Parquet tables
read back with DuckDB."""

import duckdb
import numpy as np
import pytest

from vidlabel import movinet
from vidlabel.movinet.classifiers import softmax
from vidlabel.transforms import schema
from vidlabel.transforms.clips import model_input
from vidlabel.transforms.decode import DecodeClips
from vidlabel.transforms.inference import MovinetHandler
from vidlabel.transforms.types import ClipKey, ClipSpec, VideoFile

from conftest import DECODABLE, SMALL, UNDECODABLE, VIDEOS, vidlabel


@pytest.fixture(scope="module")
def run_output(small_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    result = vidlabel("run", "--input", VIDEOS, "--output", out, "--model", small_model, "--all_scores")
    return out, result


def sql(out, query):
    query = query.replace("PREDICTIONS", f"'{out}/predictions-*.parquet'")
    query = query.replace("VIDEOS", f"'{out}/videos-*.parquet'").replace("ERRORS", f"'{out}/errors-*.parquet'")
    return duckdb.sql(query).fetchall()


def name(uri):
    return uri.rsplit("/", 1)[-1]


def test_every_file_appears_exactly_once_in_videos(run_output):
    out, _ = run_output
    rows = sql(out, "select video_uri, status from VIDEOS")
    assert sorted(name(u) for u, _ in rows) == sorted(DECODABLE | UNDECODABLE)
    assert {name(u): s for u, s in rows} == {**{n: "ok" for n in DECODABLE}, **{n: "error" for n in UNDECODABLE}}


def test_errors_table_has_one_row_per_failed_file(run_output):
    out, _ = run_output
    rows = sql(out, "select video_uri, stage, error_class, message from ERRORS")
    assert sorted(name(r[0]) for r in rows) == sorted(UNDECODABLE)
    assert all(r[3] for r in rows)
    assert sql(out, "select count(*) from VIDEOS v join ERRORS e using (video_uri) where v.error = e.message") == [(3,)]


def test_clip_rows_cover_each_decodable_video(run_output):
    out, _ = run_output
    per_video = sql(
        out,
        """select v.video_uri, v.duration_s, v.num_clips, count(p.clip_index), min(p.start_s), max(p.end_s),
                  sum(p.end_s - p.start_s), max(p.clip_index)
           from VIDEOS v join PREDICTIONS p using (video_uri) where v.status = 'ok'
           group by all""",
    )
    assert sorted(name(r[0]) for r in per_video) == sorted(DECODABLE)
    for uri, duration, num_clips, count, start, end, covered, last_index in per_video:
        assert count == num_clips == last_index + 1, uri
        assert start == 0.0 and end == pytest.approx(duration) and covered == pytest.approx(duration), uri
    ten_minutes = [r for r in per_video if name(r[0]) == "countdown_10min_1fps.mkv"][0]
    assert ten_minutes[1] == pytest.approx(600.0) and ten_minutes[2] == 600 * SMALL["fps"] // SMALL["frames"]


def test_rows_follow_the_schema(run_output):
    out, _ = run_output
    for table, expected in schema.TABLES.items():
        columns = duckdb.sql(f"select * from '{out}/{table}-*.parquet' limit 0").columns
        assert columns == expected.names, table
    top_k = sql(out, "select top_k, scores, model, run_id from PREDICTIONS")
    run_ids = {r[3] for r in top_k}
    assert len(run_ids) == 1
    for k, scores, _, _ in top_k:
        assert len(k) == 5 and [e["score"] for e in k] == sorted((e["score"] for e in k), reverse=True)
        assert len(scores) == 600 and sum(scores) == pytest.approx(1.0, abs=1e-4)
        assert k[0]["score"] == pytest.approx(max(scores))


def test_video_top_k_is_the_duration_weighted_clip_average(run_output):
    out, _ = run_output
    labels = [line.strip() for line in (VIDEOS.parent / "labels" / "kinetics_600_labels.txt").read_text().splitlines()]
    clips = sql(out, "select video_uri, end_s - start_s, scores from PREDICTIONS")
    videos = {u: k for u, k in sql(out, "select video_uri, top_k from VIDEOS where status = 'ok'")}
    for uri, top_k in videos.items():
        weights = np.array([w for u, w, _ in clips if u == uri])
        scores = np.array([s for u, _, s in clips if u == uri])
        average = (weights[:, None] * scores).sum(0) / weights.sum()
        best = np.argsort(-average)[:5]
        assert [e["label"] for e in top_k] == [labels[i] for i in best]
        np.testing.assert_allclose([e["score"] for e in top_k], average[best], atol=1e-6)


def test_video_facts_in_the_table(run_output):
    out, _ = run_output
    columns = "video_uri, width, height, rotation, codec, pix_fmt, bit_depth, stream_index"
    rows = {name(r[0]): r[1:] for r in sql(out, f"select {columns} from VIDEOS")}
    assert rows["mug_rotate270_h264.mp4"] == (180, 320, 90, "h264", "yuv420p", 8, 0)
    assert rows["bear_vp9_161x121_odd.webm"] == (161, 121, 0, "vp9", "yuv420p", 8, 0)
    assert rows["selfie_av1_aac.mp4"][3] == "av1"  # the codec, not the decoder (libdav1d)
    assert rows["vp9_invalid_bitstream.webm"][3:] == (None, None, None, None)  # error rows: null


def test_probabilities_equal_the_savedmodel_called_directly(run_output, small_model):
    """Fidelity: the same preprocessed frames through the same SavedModel, outside Beam, give the same numbers."""
    out, _ = run_output
    video = VIDEOS / "k400_arm_wrestling_h264.mp4"
    fn = DecodeClips(
        ClipSpec(
            fps=SMALL["fps"], resolution=SMALL["resolution"], clip_frames=SMALL["frames"], stride_frames=SMALL["frames"]
        )
    )
    fn.setup()
    clips = [o for o in fn.process(VideoFile(str(video), None, None)) if isinstance(o, tuple)]
    fn.teardown()
    import tensorflow as tf

    model = tf.saved_model.load(str(small_model)).signatures["serving_default"]
    direct = [
        tf.nn.softmax(model(image=tf.constant(model_input(f[None])))["classifier_head"])[0].numpy() for _, f in clips
    ]
    stored = sql(out, f"select clip_index, scores from PREDICTIONS where video_uri = '{video}' order by clip_index")
    assert [i for i, _ in stored] == [k.clip_index for k, _ in clips]
    assert np.abs(np.array([s for _, s in stored]) - np.array(direct)).max() <= 1e-5


def test_summary_is_printed(run_output):
    _, result = run_output
    assert "9 video(s) ok, 3 failed" in result.stderr
    assert "zero_bytes.webm" in result.stderr


def test_handler_contract_and_mixed_shape_batches(small_model):
    """[B, C] probabilities per clip, in input order; a short tail clip in the same batch is scored on its own."""
    signature = movinet.read_signature(str(small_model))
    assert signature == ("base", (None, None, None, None, 3), "classifier_head", 600, 480)
    handler = MovinetHandler(str(small_model), signature, max_batch_size=4, model_name="m")
    model = handler.load_model()
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8) for n in (8, 3, 8)]
    keys = [ClipKey("v", i, 0.0, 1.0, 0, 0) for i in range(3)]
    results = list(handler.run_inference(list(zip(keys, clips)), model))
    assert [r.example for r in results] == keys
    assert [r.inference.probabilities.shape for r in results] == [(600,)] * 3
    alone = [softmax(model.logits(model_input(clip[None]))[0])[0] for clip in clips]
    np.testing.assert_allclose([r.inference.probabilities for r in results], alone, atol=1e-6)
    assert all(abs(r.inference.probabilities.sum() - 1) < 1e-5 for r in results)
