"""vidlabel's job driver: the command line (`cli`), flags (`options`), launch checks (`plan`), the graph (`graph`),
the result's publication (`publish`) and the console (`console`); the other commands are in `commands`."""

__version__ = "0.5.0"
