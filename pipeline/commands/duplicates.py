"""`vidlabel search OUTPUT --duplicates`: the groups of videos in a result that show the same footage.

Two clips of the same footage have near-identical embeddings whatever happened to the file in between (another
bitrate or codec, another resolution, black bars: the model sees the same scene after resizing), so two videos are
copies of each other when enough of one's clips have a twin in the other. The rule, per pair of videos:

- a clip's twin is a clip of the other video whose embedding's cosine similarity with it is at least `--threshold`;
- the pair is linked when at least `MIN_COVERAGE` of the clips of one of the two have a twin in the other. "One of the
  two" catches a trimmed copy and a short video reused inside a longer one (its clips all have twins, the long
  video's few do);
- groups are the linked pairs' connected components (a re-upload of a re-upload joins the group of the first).

Each member of a group is reported with the time range its twinned clips span, how many of its clips have a twin,
and their mean best similarity, so a group that joined through a short shared stretch shows as such.

What it does not catch (docs/search.md, measured in bench/README.md): mirrored footage, heavy crops and speed changes
alter what the network sees; a copy trimmed by a fraction of a clip shifts every clip against the original's and
needs a lower threshold (or shorter clips). Footage that looks alike without being the same (two static shots of one
studio, synthetic scenes of one class) can pass a low threshold: the default is set above what distinct videos
reached in the measurements.

The comparison is brute force, every clip against every other, as float32 matrix products in blocks (N² work for N
clips: seconds for tens of thousands of clips, bench/README.md); beyond that an approximate index (DuckDB's `vss`,
BigQuery's `VECTOR_SEARCH`) finds the candidate pairs instead.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa

DEFAULT_THRESHOLD = 0.98
MIN_COVERAGE = 0.5
BLOCK_ROWS = 512  # clips compared against all others at a time: 512 x N float32 similarities in memory

GROUPS_SCHEMA = pa.schema(
    [
        ("group", pa.int32()),  # 1 = the largest group
        ("video_uri", pa.string()),
        ("start_s", pa.float64()),  # the range of this video's clips that have a twin in the group
        ("end_s", pa.float64()),
        ("twinned_clips", pa.int32()),
        ("clips", pa.int32()),  # the video's clips with an embedding
        ("similarity", pa.float32()),  # mean over the twinned clips of their best twin's similarity
    ]
)


class StoredClips(NamedTuple):
    uris: list[str]  # the videos, each once
    video: np.ndarray  # int [N]: each clip's index into uris
    start_s: np.ndarray  # float64 [N]
    end_s: np.ndarray
    embeddings: np.ndarray  # float32 [N, dim], unit rows


def read_clips(con, source: str, params: dict, dim: int) -> StoredClips:
    """Every clip with an embedding, read through DuckDB (the source is `search.predictions_source`'s)."""
    table = con.sql(
        f"""SELECT video_uri, start_s, end_s, embedding FROM {source}
            WHERE embedding IS NOT NULL ORDER BY video_uri, start_s""",
        params=params,
    ).to_arrow_table()
    uris, video = np.unique(table["video_uri"].to_numpy(zero_copy_only=False), return_inverse=True)
    flat = table["embedding"].combine_chunks().flatten().to_numpy()
    return StoredClips(
        [str(uri) for uri in uris],
        video.astype(np.int64),
        table["start_s"].to_numpy(),
        table["end_s"].to_numpy(),
        np.asarray(flat, np.float32).reshape(len(table), dim),
    )


class Twins(NamedTuple):
    """Pairs of clips of different videos at or above the threshold, each pair once (first clip's video lower)."""

    first: np.ndarray  # int [P]: clip indices
    second: np.ndarray
    similarity: np.ndarray  # float32 [P]


def twin_clips(clips: StoredClips, threshold: float) -> Twins:
    firsts, seconds, similarities = [], [], []
    for start in range(0, len(clips.video), BLOCK_ROWS):
        block = clips.embeddings[start : start + BLOCK_ROWS] @ clips.embeddings.T
        rows, cols = np.nonzero(block >= threshold)
        rows_clip = rows + start
        keep = clips.video[rows_clip] < clips.video[cols]
        firsts.append(rows_clip[keep])
        seconds.append(cols[keep])
        similarities.append(block[rows[keep], cols[keep]])
    if not firsts:
        return Twins(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
    return Twins(np.concatenate(firsts), np.concatenate(seconds), np.concatenate(similarities))


def duplicate_groups(clips: StoredClips, threshold: float) -> pa.Table:
    """The groups of videos that show the same footage, as rows of `GROUPS_SCHEMA`, largest group first."""
    twins = twin_clips(clips, threshold)
    videos, clip_count = len(clips.uris), len(clips.video)
    clips_of_video = np.bincount(clips.video, minlength=videos)
    pairs, pair_of_twin = np.unique(clips.video[twins.first] * videos + clips.video[twins.second], return_inverse=True)

    def twinned_per_pair(clip: np.ndarray) -> np.ndarray:  # distinct clips of one side with a twin, per pair
        return np.bincount(np.unique(pair_of_twin * clip_count + clip) // clip_count, minlength=len(pairs))

    first_video, second_video = pairs // videos, pairs % videos
    coverage = np.maximum(
        twinned_per_pair(twins.first) / clips_of_video[first_video],
        twinned_per_pair(twins.second) / clips_of_video[second_video],
    )
    linked = coverage >= MIN_COVERAGE
    parent = np.arange(videos)

    def root(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return int(v)

    for a, b in zip(first_video[linked], second_video[linked]):
        parent[root(a)] = root(b)
    best = np.full(clip_count, -np.inf, np.float32)  # each clip's best twin over the linked pairs
    in_link = linked[pair_of_twin]
    for side in (twins.first, twins.second):
        np.maximum.at(best, side[in_link], twins.similarity[in_link])

    twinned = np.flatnonzero(best > -np.inf)
    groups: dict[int, list[int]] = {}
    for v in sorted(set(clips.video[twinned].tolist()), key=lambda v: clips.uris[v]):
        groups.setdefault(root(v), []).append(v)
    rows = []
    for number, members in enumerate(sorted(groups.values(), key=lambda vs: (-len(vs), clips.uris[vs[0]])), start=1):
        for v in members:
            own = twinned[clips.video[twinned] == v]
            rows.append(
                {
                    "group": number,
                    "video_uri": clips.uris[v],
                    "start_s": float(clips.start_s[own].min()),
                    "end_s": float(clips.end_s[own].max()),
                    "twinned_clips": len(own),
                    "clips": int(clips_of_video[v]),
                    "similarity": float(best[own].mean()),
                }
            )
    return pa.Table.from_pylist(rows, schema=GROUPS_SCHEMA)
