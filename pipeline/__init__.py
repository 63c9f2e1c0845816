"""vidlabel's driver side: flags (`options`), launch-time checks (`plan`), the graph (`graph`), the command (`cli`)."""

__version__ = "0.3.0"
