"""The pieces of exact sparse decoding on their own: the tick rule it shares with `FrameSampler`, and the NAL unit
readers that tell reference frames from the others."""

import numpy as np
import pytest

from vidlabel.transforms.clips import FrameSampler
from vidlabel.transforms.references import H264References, HevcReferences, nal_units, reference_reader
from vidlabel.transforms.sparse import tick_between


@pytest.mark.parametrize("fps", [5.0, 8.0, 30000 / 1001 / 6, 2.0])
def test_tick_between_says_exactly_which_frames_the_sampler_gives_a_tick(fps):
    """Random frame times (some on ticks, some a hair off them): a frame fills a tick in `FrameSampler` exactly when
    `tick_between` says so."""
    rng = np.random.default_rng(0)
    period = 1.0 / fps
    steps = rng.choice([1 / 30, 1 / 25, 1 / 60, 1001 / 30000, period, period - 5e-5, period + 5e-5], 4000)
    times = np.concatenate([[0.0], np.cumsum(steps)])
    sampler = FrameSampler(fps)
    sampler.ticks_until(0.0)
    for start, end in zip(times[:-1], times[1:]):
        fills = sampler.ticks_until(end) > 0
        assert fills == tick_between(start, end, period), (start, end)


def avcc(*units: bytes, length_size: int = 4) -> bytes:
    return b"".join(len(u).to_bytes(length_size, "big") + u for u in units)


def annex_b(*units: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


def test_nal_units_are_split_in_both_packagings():
    units = [b"\x09\xf0", b"\x01\x9a\x00\x00\x03\x01", b"\x41\x9b\x22"]
    assert list(nal_units(avcc(*units), 4)) == units
    assert list(nal_units(avcc(*units, length_size=2), 2)) == units
    assert list(nal_units(annex_b(*units), None)) == units
    assert list(nal_units(avcc(b"\x01\x02")[:-1], 4)) == []  # a length past the packet's end: nothing more


def test_h264_reference_flags_come_from_each_slices_nal_ref_idc():
    avcc_extradata = bytes([1, 100, 0, 31, 0xFF])  # avcC: version 1, lengthSizeMinusOne 3
    reader = reference_reader("h264", avcc_extradata)
    assert isinstance(reader, H264References)
    non_ref_b = avcc(b"\x09\xf0", b"\x01\x9e\x00")  # access unit delimiter, then a slice with nal_ref_idc 0
    ref_p = avcc(b"\x41\x9a\x00")  # nal_ref_idc 2, non-IDR slice
    idr = avcc(b"\x67\x64", b"\x65\x88\x80")  # SPS, then an IDR slice (nal_ref_idc 3)
    assert [reader.is_reference(p) for p in (non_ref_b, ref_p, idr)] == [False, True, True]
    assert reader.is_reference(avcc(b"\x06\x05"))  # no slice at all (SEI only): never left out
    annexb_reader = reference_reader("h264", None)
    assert not annexb_reader.is_reference(annex_b(b"\x09\xf0", b"\x01\x9e\x00"))
    assert annexb_reader.is_reference(annex_b(b"\x01\x9e\x00", b"\x21\x9e\x00"))  # one reference slice is enough


def test_hevc_non_reference_types_count_only_without_temporal_layers():
    hvcc = bytes([1] + [0] * 20 + [0x03, 0])  # hvcC: version 1, lengthSizeMinusOne 3 in byte 21
    reader = reference_reader("hevc", hvcc)
    assert isinstance(reader, HevcReferences)

    def unit(kind: int, temporal_id: int = 0) -> bytes:
        return bytes([kind << 1, temporal_id + 1, 0xAF])

    assert not reader.is_reference(avcc(unit(0)))  # TRAIL_N
    assert not reader.is_reference(avcc(unit(35), unit(8)))  # AUD, then RASL_N
    assert reader.is_reference(avcc(unit(1)))  # TRAIL_R
    assert reader.is_reference(avcc(unit(19)))  # IDR_W_RADL
    assert reader.usable
    assert reader.is_reference(avcc(unit(0, temporal_id=1)))  # a temporal layer: _N pictures may be referenced
    assert not reader.usable and reader.is_reference(avcc(unit(0)))


def test_other_codecs_have_no_reader():
    assert reference_reader("vp9", None) is None and reference_reader("av1", b"\x81") is None
