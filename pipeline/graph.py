"""The pipeline graph: one video's path from listing to Parquet, as named composite transforms.

    ReadJobFiles -> DecodeClips -> RunInference(MoViNet) -> rows -> WriteToParquet (staging)
                       |                   `-> predictions, frame_labels; per video: segments; per shot: top k
                       |-> one VideoInfo (with its shots) or VideoError per file -> videos / shots / errors tables
                       `-> (--thumbnails) small JPEGs taken while decoding -> thumbnails table

The launcher listed the files once and wrote those to label as file lists of one batch each (`listing.py`,
`batches.py`); it runs this graph once per batch, all writing into the run's staging folder. With --incremental a
pass of its own, `KeepUnchanged`, first writes the published rows of the files not labelled beside the new ones.

The tables go to the run's staging folder; the launcher publishes them once the pipeline has succeeded
(`publish.py`).

Decoding, scoring and writing prediction rows fuse into one stage, so clips stream through it one batch at a time
and are never gathered across an archive. Per video and per shot only small records cross a shuffle: a video's
facts, a partial sum of its (or its shot's) clip probabilities (and embeddings) that becomes its top k (and
embedding, `rows.ClipAverage`), and
the few labels per clip at or above --min_score that become its label segments (`rows.LabelSegments`).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from vidlabel.pipeline.batches import FileBatch
from vidlabel.pipeline.plan import JobPlan
from vidlabel.transforms import rows, schema
from vidlabel.transforms.decode import THUMBNAIL, VIDEO_ERROR, VIDEO_INFO, DecodeClips
from vidlabel.transforms.incremental import KeepUnchanged
from vidlabel.transforms.inference import MovinetHandler
from vidlabel.transforms.listing import ReadJobFiles
from vidlabel.transforms.progress import ReportProgress


def _only(values):
    values = list(values)
    return values[0] if values else None


class LabelVideos(beam.PTransform):
    """PCollection[VideoFile] -> {table name: PCollection of its rows}, for every table in `schema.py`."""

    def __init__(self, plan: JobPlan, progress_path: str | None = None):
        super().__init__()
        self._plan = plan
        self._progress_path = progress_path

    def expand(self, files):
        plan = self._plan
        ctx = rows.RowContext(
            labels=plan.labels,
            top_k=plan.top_k,
            model=plan.model_name,
            run_id=plan.run_id,
            all_scores=plan.all_scores,
            min_score=plan.min_score,
        )
        handler = MovinetHandler(
            plan.model_uri,
            plan.signature,
            max_batch_size=plan.batch_size,
            model_name=plan.model_name,
            carry_states=plan.carry_states,
            frame_labels=plan.frame_labels,
            embeddings=plan.embeddings,
        )

        decoder = DecodeClips(plan.clip_spec, plan.decode_limits, plan.decode_options)
        decoded = files | "DecodeClips" >> beam.ParDo(decoder).with_outputs(
            VIDEO_INFO, VIDEO_ERROR, THUMBNAIL, main="clips"
        )
        # PredictionResult(example=ClipKey, inference=ClipScores)
        scored = decoded.clips | "ScoreClips" >> RunInference(handler)

        predictions = scored | "ToPredictionRows" >> beam.Map(
            lambda r: rows.prediction_row(r.example, r.inference, ctx)
        )
        frame_labels = scored | "ToFrameLabelRows" >> beam.FlatMap(
            lambda r: rows.frame_label_rows(r.example, r.inference, ctx)
        )
        video_average = (
            scored
            | "WeighByClipDuration"
            >> beam.Map(lambda r: (r.example.video_uri, (r.example.end_s - r.example.start_s, r.inference)))
            | "AverageOfClips" >> beam.CombinePerKey(rows.ClipAverage(ctx.labels, ctx.top_k))
        )
        videos = (
            {
                "file": files | "KeyFileByUri" >> beam.Map(lambda file: (file.uri, file)),
                "info": decoded[VIDEO_INFO] | "KeyInfoByUri" >> beam.Map(lambda info: (info.video_uri, info)),
                "error": decoded[VIDEO_ERROR] | "KeyErrorByUri" >> beam.Map(lambda err: (err.video_uri, err)),
                "average": video_average,
            }
            | "JoinPerVideo" >> beam.CoGroupByKey()
            | "ToVideoRows"
            >> beam.MapTuple(
                lambda uri, g: rows.video_row(
                    _only(g["file"]), _only(g["info"]), _only(g["error"]), _only(g["average"]), ctx
                )
            )
        )
        shot_average = (
            scored
            | "WeighBySecondsOfShot"
            >> beam.FlatMap(
                lambda r: (
                    ((r.example.video_uri, shot), (seconds, r.inference)) for shot, seconds in r.example.shot_seconds
                )
            )
            | "AverageOfShotClips" >> beam.CombinePerKey(rows.ClipAverage(ctx.labels, ctx.top_k))
        )
        shots = (
            {
                "shot": decoded[VIDEO_INFO]
                | "KeyShotsByUriAndIndex"
                >> beam.FlatMap(lambda info: (((info.video_uri, s.shot_index), s) for s in info.shots)),
                "average": shot_average,
            }
            | "JoinPerShot" >> beam.CoGroupByKey()
            | "ToShotRows"
            >> beam.FlatMapTuple(
                lambda key, g: [rows.shot_row(key[0], shot, _only(g["average"]), ctx) for shot in g["shot"]]
            )
        )
        segments = (
            scored
            | "ClipTimesAndScores"
            >> beam.Map(
                lambda r: (r.example.video_uri, (r.example.start_s, r.example.end_s, r.inference.probabilities))
            )
            | "LabelSegmentsPerVideo" >> beam.CombinePerKey(rows.LabelSegments(ctx.min_score))
            | "ToSegmentRows" >> beam.FlatMapTuple(lambda uri, found: [rows.segment_row(uri, s, ctx) for s in found])
        )
        errors = decoded[VIDEO_ERROR] | "ToErrorRows" >> beam.Map(rows.error_row, ctx)
        thumbnails = decoded[THUMBNAIL] | "ToThumbnailRows" >> beam.Map(rows.thumbnail_row, ctx)
        # One step per output rather than a Flatten, which the local runner may materialise instead of fusing.
        _ = decoded[VIDEO_INFO] | "ReportVideosDone" >> beam.ParDo(ReportProgress(self._progress_path))
        _ = decoded[VIDEO_ERROR] | "ReportVideosFailed" >> beam.ParDo(ReportProgress(self._progress_path))
        return {
            "predictions": predictions,
            "videos": videos,
            "errors": errors,
            "shots": shots,
            "segments": segments,
            "frame_labels": frame_labels,
            "thumbnails": thumbnails,
        }


class WriteTables(beam.PTransform):
    """{table name: rows} -> OUTPUT/{name}-{tag}-SSSSS-of-NNNNN.parquet, one schema per table (an empty table is
    still written: readers never meet a missing one). `tag` names the batch that wrote the file (`batches.py`)."""

    def __init__(self, output: str, tag: str):
        super().__init__()
        self._output = output.rstrip("/")
        self._tag = tag

    def expand(self, tables):
        for name, table_rows in tables.items():
            _ = table_rows | f"Write{name.capitalize()}" >> beam.io.WriteToParquet(
                f"{self._output}/{name}-{self._tag}", schema.TABLES[name], file_name_suffix=".parquet"
            )
        return beam.pvalue.PDone(next(iter(tables.values())).pipeline)


def build(pipeline: beam.Pipeline, plan: JobPlan, batch: FileBatch, progress_path: str | None = None) -> None:
    """One batch's pipeline: its files labelled, or (the kept pass) the published rows --incremental keeps; no
    model is loaded for the kept pass."""
    if batch.is_kept_pass:
        tables = pipeline | "KeepUnchanged" >> KeepUnchanged(plan.keep_from, plan.kept_tables, plan.replaced_uris)
    else:
        files = pipeline | "ReadJobFiles" >> ReadJobFiles(batch.files)
        tables = files | "LabelVideos" >> LabelVideos(plan, progress_path)
    _ = tables | "WriteTables" >> WriteTables(plan.outputs.staging, batch.tag)
