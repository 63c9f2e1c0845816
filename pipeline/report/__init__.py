"""`vidlabel report`'s library: a result's tables as a static web site (`tables.py` reads, `charts.py` draws,
`site.py` writes, `assets/` holds the pages and their plain JavaScript)."""
