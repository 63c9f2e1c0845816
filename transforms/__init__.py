"""vidlabel's pipeline parts, in the order a video meets them: listing, decode (with clips), handlers, rows."""
