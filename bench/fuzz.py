"""Fuzz the pipeline with mutated real videos: every input must end as exactly one row in `videos`, the job must
succeed, and memory must stay bounded.

    .venv/bin/python bench/fuzz.py                 # 1,000 inputs (about 10 minutes on 2 cores)
    .venv/bin/python bench/fuzz.py --count 40      # a quick look

The inputs are made from the shared videos (../shared/videos) with a fixed seed, in four kinds:
- bit flips: 1 to 64 random bits, half of the time inside the first 4 KiB (the headers);
- truncation: cut at a random point;
- spliced headers: the start of one file followed by the body of another;
- huge declared dimensions: width/height fields of the container (MP4 sample entries and track headers, Matroska
  PixelWidth/PixelHeight, GIF screen and image descriptors, AVI BITMAPINFOHEADER) set to large values, plus
  YUV4MPEG streams that declare up to 60000x60000 frames and one real 8192x8192 H.264 frame.
They are labelled by `vidlabel run` in this process (Beam's in-memory runner, one worker) with the A0 stream TFLite
model at 1 frame per second, so decoding dominates; decoding runs in the sandboxed decoder processes as always.
Prints one JSON line with the counts, time and peak memory (sampled every 20 ms: this process with its decoder
processes, and the largest decoder process alone).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import random
import resource
import struct
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_VIDEOS = pathlib.Path(os.environ.get("VIDLABEL_SHARED", REPO.parent / "shared")) / "videos"


def mutations(sources: list[pathlib.Path], count: int, seed: int):
    """(name, bytes) of `count` mutated inputs."""
    rng = random.Random(seed)
    data = {p.name: p.read_bytes() for p in sources}
    names = sorted(data)
    kinds = [bit_flips, truncation, spliced_headers, huge_dimensions]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        name = names[rng.randrange(len(names))]
        mutated = kind(rng, data[name], data[names[rng.randrange(len(names))]])
        yield f"{i:04d}-{kind.__name__}-{name}", mutated


def bit_flips(rng: random.Random, data: bytes, _other: bytes) -> bytes:
    if not data:
        return bytes(rng.randrange(256) for _ in range(64))
    out = bytearray(data)
    span = min(len(out), 4096) if rng.random() < 0.5 else len(out)
    for _ in range(rng.randint(1, 64)):
        out[rng.randrange(span)] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(rng: random.Random, data: bytes, _other: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def spliced_headers(rng: random.Random, data: bytes, other: bytes) -> bytes:
    head = data[: rng.randint(16, max(16, min(len(data), 8192)))]
    return head + other[rng.randrange(len(other) + 1) :]


def huge_dimensions(rng: random.Random, data: bytes, _other: bytes) -> bytes:
    out = bytearray(data)
    big16 = lambda: rng.choice([0xFFFF, 0x8000, 0x4000, rng.randrange(1, 0x10000)])  # noqa: E731
    patched = 0
    for fourcc in (b"avc1", b"av01", b"vp09", b"vp08", b"mp4v", b"hvc1"):  # sample entry: width, height at +24
        at = out.find(fourcc)
        if at >= 0 and at + 32 <= len(out):
            out[at + 28 : at + 32] = struct.pack(">HH", big16(), big16())
            patched += 1
    at = out.find(b"tkhd")
    if at >= 0 and at + 88 <= len(out):  # version 0 track header: width, height (16.16) are its last 8 bytes
        out[at + 80 : at + 88] = struct.pack(">II", big16() << 16, big16() << 16)
        patched += 1
    for element in (b"\xb0\x82", b"\xba\x82"):  # Matroska PixelWidth / PixelHeight, 2-byte values
        at = out.find(element)
        if at >= 0:
            out[at + 2 : at + 4] = struct.pack(">H", big16())
            patched += 1
    if out[:3] == b"GIF":
        out[6:10] = struct.pack("<HH", big16(), big16())
        at = out.find(b"\x2c", 13)  # first image descriptor
        if at >= 0 and at + 9 <= len(out):
            out[at + 5 : at + 9] = struct.pack("<HH", big16(), big16())
        patched += 1
    at = out.find(b"strf")
    if at >= 0 and at + 20 <= len(out):  # BITMAPINFOHEADER: biSize, then biWidth, biHeight
        out[at + 12 : at + 20] = struct.pack("<ii", rng.randrange(1, 1 << 20), rng.randrange(1, 1 << 20))
        patched += 1
    if not patched:  # nothing to patch (audio only, empty): a raw stream that declares an enormous frame instead
        side = rng.choice([60000, 30000, 16384, 8192])
        return b"YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg\nFRAME\n" % (side, side) + bytes(4096)
    return bytes(out)


def big_frame_video(path: pathlib.Path, side: int = 8192) -> None:
    """One black H.264 frame of side x side pixels: ~200 KB on disk, ~100 MB per decoded frame."""
    import numpy as np

    from vidlabel.pipeline.commands.synth import write_video

    write_video(str(path), [np.zeros((side, side, 3), np.uint8)], 5, side, side)


class TreeMemory(threading.Thread):
    """Samples the resident memory of this process and its children (the decoder processes) every 20 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_total = self.peak_child = 0
        self._stopped = threading.Event()

    def run(self):
        me = os.getpid()
        page = resource.getpagesize()
        while not self._stopped.wait(0.02):
            total = 0
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    if int(pid) != me and ppid != me:
                        continue
                    with open(f"/proc/{pid}/statm") as f:
                        rss = int(f.read().split()[1]) * page
                except (OSError, ValueError, IndexError):
                    continue
                total += rss
                if int(pid) != me:
                    self.peak_child = max(self.peak_child, rss)
            self.peak_total = max(self.peak_total, total)

    def stop(self):
        self._stopped.set()
        self.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="mutated inputs (plus one 8192x8192 H.264 frame)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=str(REPO / "bench" / ".fuzz"), help="folder for inputs and tables")
    parser.add_argument("--model", default=str(REPO / "bench" / ".models" / "a0-stream" / "model.tflite"))
    parser.add_argument("--decode_timeout_seconds", type=float, default=30)
    args = parser.parse_args()

    from vidlabel.pipeline import cli

    work = pathlib.Path(args.work)
    inputs = work / f"inputs-{args.count}-{args.seed}"
    if not inputs.is_dir():
        staging = inputs.with_suffix(".partial")
        staging.mkdir(parents=True, exist_ok=True)
        for name, data in mutations(
            sorted(p for p in SHARED_VIDEOS.iterdir() if p.name != "MANIFEST.md"), args.count, args.seed
        ):
            (staging / name).write_bytes(data)
        big_frame_video(staging / "big_frame_8192.mp4")
        staging.rename(inputs)
    if not pathlib.Path(args.model).exists():
        sys.exit(
            f"no model at {args.model}: run `.venv/bin/python bench/stream_vs_tflite_vs_base.py` once, or pass "
            "--model (a .tflite stream model)"
        )
    out = work / f"tables-{args.count}-{args.seed}"
    memory = TreeMemory()
    memory.start()
    started = time.perf_counter()
    status = cli.main(
        [
            "run",
            "--input",
            str(inputs),
            "--extensions",
            "mp4,webm,mkv,avi,gif",
            "--output",
            str(out),
            "--overwrite",
            "--model",
            args.model,
            "--fps",
            "1",
            "--decode_timeout_seconds",
            str(args.decode_timeout_seconds),
            "--direct_running_mode",
            "in_memory",
            "--direct_num_workers",
            "1",
        ]
    )
    elapsed = time.perf_counter() - started
    memory.stop()

    import duckdb

    files = len(list(inputs.iterdir()))
    rows = duckdb.sql(f"select count(*), count(distinct video_uri) from '{out}/videos-*.parquet'").fetchall()[0]
    by_status = dict(duckdb.sql(f"select status, count(*) from '{out}/videos-*.parquet' group by 1").fetchall())
    errors = duckdb.sql(
        f"select stage, error_class, count(*) from '{out}/errors-*.parquet' group by all order by 3 desc"
    )
    record = json.loads((out / "run.json").read_text())
    result = {
        "inputs": files,
        "exit_status": status,
        "video_rows": rows[0],
        "distinct_uris": rows[1],
        "exactly_once": rows[0] == rows[1] == files,
        "by_status": by_status,
        "errors": collections.Counter({f"{s}/{c}": n for s, c, n in errors.fetchall()}).most_common(),
        "seconds": round(elapsed, 1),
        "inputs_per_second": round(files / elapsed, 2),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "peak_decoder_rss_mib": memory.peak_child // 2**20,
        "peak_total_rss_mib": memory.peak_total // 2**20,
        "run_id": record["run_id"],
    }
    print(json.dumps(result), flush=True)
    os._exit(0 if status == 0 and result["exactly_once"] else 1)


if __name__ == "__main__":
    main()
