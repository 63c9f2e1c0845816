"""`vidlabel report OUTPUT --out DIR`: a static web site of a whole result, to open in any browser.

An archive's owners (editors, researchers, moderators) would rather look than query: the overview shows what the
archive holds (hours, clips, the time per label, durations, codecs and resolutions), which files failed and why,
and a list of every video to filter by label, score, status and name; each video has a page with its timeline
(clips coloured by their top label, shots, label segments), its thumbnails, top labels and facts.

The site needs no server and no network (`report/site.py` says how the data travels on file:// pages) and never
decodes a video: the pictures are the thumbnails `vidlabel run` took while decoding (the thumbnails table). A result
without them (written by an older vidlabel, schema version 4 or less, or with `--thumbnails off`) gets its report
without pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from vidlabel.pipeline import publish
from vidlabel.pipeline.report import site, tables
from vidlabel.transforms import storage
from vidlabel.transforms.errors import EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidlabel report", description=__doc__.split("\n")[0])
    p.add_argument("output", help="The --output of a finished `vidlabel run` (local or gs://).")
    p.add_argument("--out", required=True, help="A new (or empty) local folder for the site; open its index.html.")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    started = time.monotonic()
    out = write_report(args.output, args.out)
    print(f"vidlabel report: {out} ({time.monotonic() - started:.1f} s)")
    return EXIT_OK


def write_report(output: str, out: str) -> str:
    """Writes the report of the result OUTPUT into the new folder `out`; returns the overview page's path. What
    the result lacks is said once on stderr."""
    folder = publish.result_folder(output)
    publish.check_out_folder(out, folder)
    overview, pages = tables.gather(folder)
    if overview.missing_tables:
        print(
            f"vidlabel report: note: {output} has no {', '.join(overview.missing_tables)} table (a result of an "
            "older vidlabel): the report leaves those parts out",
            file=sys.stderr,
        )
    elif not overview.totals["thumbnails"] and overview.totals["ok"]:
        print(f"vidlabel report: note: {output} has no thumbnails (--thumbnails off): no pictures", file=sys.stderr)
    with storage.atomic_folder(out) as staging:
        site.write_site(staging, folder, overview, pages)
    return os.path.join(os.path.abspath(out), "index.html")
