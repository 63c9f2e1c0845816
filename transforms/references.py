"""Which compressed frames no other frame is decoded from (non-reference frames), read from the packets' own NAL
unit headers, without decoding: what exact sparse decoding (`sparse.py`) may leave undecoded.

- H.264: a slice's `nal_ref_idc` (0: the picture is never used for reference). A packet is non-reference when it
  holds slices and every one has `nal_ref_idc` 0.
- HEVC: the sub-layer non-reference slice types (TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N and the reserved _N types:
  the even types under 16). They may still be referenced by pictures of a higher temporal sub-layer, so a stream is
  read this way only while every NAL unit seen has TemporalId 0 (encoders' default; a stream with temporal layers
  is decoded whole, `HevcReferences.usable`).

Packets come length-prefixed (MP4, MKV: the `avcC`/`hvcC` extradata says the length size) or in Annex B byte stream
form (start codes: MPEG-TS, raw streams). Any other codec has no reader here, and every one of its frames is
decoded (VP9's and AV1's reference flags live in compressed headers that need a real parser).
"""

from __future__ import annotations

from collections.abc import Iterator


def nal_units(data: bytes, length_size: int | None) -> Iterator[bytes]:
    """The NAL units of one packet: length-prefixed (`length_size` bytes, big-endian) or Annex B (None)."""
    if length_size is not None:
        i = 0
        while i + length_size <= len(data):
            size = int.from_bytes(data[i : i + length_size], "big")
            i += length_size
            if size == 0 or i + size > len(data):
                return
            yield data[i : i + size]
            i += size
        return
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(data)
        unit = data[start:end].rstrip(b"\x00")  # trailing zeros belong to the next start code (00 00 00 01)
        if unit:
            yield unit


class H264References:
    def __init__(self, extradata: bytes | None):
        self._length_size = (extradata[4] & 3) + 1 if extradata and extradata[0] == 1 and len(extradata) > 4 else None
        self.usable = True

    def is_reference(self, data: bytes) -> bool:
        slices = [unit[0] for unit in nal_units(data, self._length_size) if unit[0] & 0x1F in (1, 5)]
        return not slices or any(header & 0x60 for header in slices)


HEVC_VCL_TYPES = 32
HEVC_NON_REFERENCE = frozenset(range(0, 16, 2))  # TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N, RSV_VCL_N10/12/14


class HevcReferences:
    def __init__(self, extradata: bytes | None):
        hvcc = extradata and extradata[0] == 1 and len(extradata) > 22
        self._length_size = (extradata[21] & 3) + 1 if hvcc else None
        self.usable = True  # False once a NAL unit with TemporalId > 0 is seen: then every frame is decoded

    def is_reference(self, data: bytes) -> bool:
        vcl_types = []
        for unit in nal_units(data, self._length_size):
            if len(unit) < 2:
                continue
            if (unit[1] & 7) - 1 > 0:
                self.usable = False
            if (kind := (unit[0] >> 1) & 0x3F) < HEVC_VCL_TYPES:
                vcl_types.append(kind)
        return not vcl_types or not self.usable or any(kind not in HEVC_NON_REFERENCE for kind in vcl_types)


READERS = {"h264": H264References, "hevc": HevcReferences}


def reference_reader(codec: str, extradata: bytes | None) -> H264References | HevcReferences | None:
    """The reader of a codec's packets (the codec's name, as `decode.codec_name` gives it), or None: decode all."""
    reader = READERS.get(codec)
    return reader(extradata) if reader else None
