"""The Parquet tables vidlabel writes, declared once. Row builders emit exactly these field names.

- predictions-*.parquet: one row per clip.
- videos-*.parquet: exactly one row per input file, `status` "ok" or "error".
- errors-*.parquet: one row per failed file.
- shots-*.parquet: one row per shot of a decoded video (the whole video is one shot when it has no cut).
- segments-*.parquet: one row per contiguous time range where a label scores at least --min_score.
- frame_labels-*.parquet: one row per second of video with --frame_labels (stream and TFLite models), else empty.
- thumbnails-*.parquet: small JPEGs taken in the decoding pass (`thumbnails.py`; --thumbnails), for the report.

Every table is written by every run, empty when nothing fills it, so readers never meet a missing table.
"""

import pyarrow as pa

# Written into run.json. 1: vidlabel 0.1-0.2 (no version recorded); 2: videos.stream_index, pix_fmt, bit_depth and
# codec names (not decoder names). A newer version reads and extends older results (`incremental.upgraded`).
# 3: the shots, segments and frame_labels tables. 4: the embedding columns of predictions, videos and shots.
# 5: the thumbnails table.
SCHEMA_VERSION = 5
# Columns of the videos table that version 2 added: null in the ok rows an older version wrote.
VIDEO_COLUMNS_ADDED = ("stream_index", "pix_fmt", "bit_depth")

TOP_K = pa.list_(pa.struct([("label", pa.string()), ("score", pa.float32())]))
# --embeddings: the backbone's pooled features, L2-normalised (a clip's; a video's or shot's mean of its clips',
# weighted as its top_k, normalised again). A plain list, so every table keeps one schema whatever the model: the
# dimension is run.json's `embeddings.dim` (DuckDB: `embedding::FLOAT[dim]`). Null without --embeddings.
EMBEDDING = pa.list_(pa.float32())

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
        ("embedding", EMBEDDING),
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
        ("embedding", EMBEDDING),  # the clips' embeddings averaged as top_k, normalised
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

SHOTS = pa.schema(
    [
        ("video_uri", pa.string()),
        ("shot_index", pa.int32()),  # 0-based, in time order
        ("start_s", pa.float64()),  # the presentation time of its first frame, from the video's first frame
        ("end_s", pa.float64()),  # where the next shot starts (the video's end for the last shot)
        ("start_frame", pa.int64()),  # source frame indices, 0-based, inclusive
        ("end_frame", pa.int64()),
        # The probabilities of the clips overlapping the shot, weighted by the seconds they overlap it, best first.
        ("top_k", TOP_K),
        ("embedding", EMBEDDING),  # the clips' embeddings averaged as top_k, normalised
        ("model", pa.string()),
        ("run_id", pa.string()),
    ]
)

SEGMENTS = pa.schema(
    [
        ("video_uri", pa.string()),
        ("label", pa.string()),
        ("start_s", pa.float64()),  # the start of the range's first clip
        ("end_s", pa.float64()),  # the end of its last clip
        # The label's score averaged over the range's clips, weighted by their durations.
        ("confidence", pa.float32()),
        ("num_clips", pa.int32()),
        ("model", pa.string()),
        ("run_id", pa.string()),
    ]
)

FRAME_LABELS = pa.schema(
    [
        ("video_uri", pa.string()),
        ("time_s", pa.float64()),  # the model frame at each whole second: 0, 1, 2, ... s
        ("top_k", TOP_K),  # the stream model's prediction once it has seen that frame (docs/running.md)
        ("model", pa.string()),
        ("run_id", pa.string()),
    ]
)

THUMBNAILS = pa.schema(
    [
        ("video_uri", pa.string()),
        ("time_s", pa.float64()),  # the frame's presentation time; its shot: shots.start_s <= time_s < shots.end_s
        ("width", pa.int32()),  # as displayed (upright), the longer side at most 192 pixels
        ("height", pa.int32()),
        ("jpeg", pa.binary()),
        ("run_id", pa.string()),
    ]
)

TABLES = {
    "predictions": PREDICTIONS,
    "videos": VIDEOS,
    "errors": ERRORS,
    "shots": SHOTS,
    "segments": SEGMENTS,
    "frame_labels": FRAME_LABELS,
    "thumbnails": THUMBNAILS,
}
