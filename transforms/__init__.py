"""vidlabel's Beam stages, in the order a video meets them (listing, incremental, decode, clips, inference, rows), plus
the storage, error and element types every layer shares."""
