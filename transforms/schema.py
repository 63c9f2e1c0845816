"""The three Parquet tables vidlabel writes, declared once. Row builders emit exactly these field names.

- predictions-*.parquet: one row per clip.
- videos-*.parquet: exactly one row per input file, `status` "ok" or "error".
- errors-*.parquet: one row per failed file.
"""

import pyarrow as pa

# Written into run.json. 1: vidlabel 0.1-0.2 (no version recorded); 2: videos.stream_index, pix_fmt, bit_depth and
# codec names (not decoder names). A newer version reads and extends older results (`incremental.upgraded`).
SCHEMA_VERSION = 2
# Columns of the videos table that version 2 added: null in the ok rows an older version wrote.
VIDEO_COLUMNS_ADDED = ("stream_index", "pix_fmt", "bit_depth")

TOP_K = pa.list_(pa.struct([("label", pa.string()), ("score", pa.float32())]))

PREDICTIONS = pa.schema(
    [
        ("video_uri", pa.string()),
        ("clip_index", pa.int32()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("start_frame", pa.int64()),
        ("end_frame", pa.int64()),
        ("top_k", TOP_K),
        # Full probability vector in classifier order; null unless --all_scores.
        ("scores", pa.list_(pa.float32())),
        ("model", pa.string()),
        ("run_id", pa.string()),
    ]
)

VIDEOS = pa.schema(
    [
        ("video_uri", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("duration_s", pa.float64()),
        ("source_fps", pa.float64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("rotation", pa.int32()),
        # The codec's name (h264, av1), and the decoded frames' pixel format and bits per sample (yuv420p, 8).
        ("codec", pa.string()),
        ("pix_fmt", pa.string()),
        ("bit_depth", pa.int32()),
        # The video stream labelled, among all the file's streams as ffprobe numbers them (`decode.video_streams`).
        ("stream_index", pa.int32()),
        ("num_frames", pa.int64()),
        ("num_clips", pa.int32()),
        # Clip probabilities averaged with clip durations as weights, best first.
        ("top_k", TOP_K),
        # The version of the file that was labelled, as listed: --incremental relabels a file when either changes.
        ("file_size", pa.int64()),
        ("file_modified", pa.timestamp("us", tz="UTC")),
        ("model", pa.string()),
        ("run_id", pa.string()),
    ]
)

ERRORS = pa.schema(
    [
        ("video_uri", pa.string()),
        ("stage", pa.string()),
        ("error_class", pa.string()),
        ("message", pa.string()),
        ("run_id", pa.string()),
    ]
)

TABLES = {"predictions": PREDICTIONS, "videos": VIDEOS, "errors": ERRORS}
