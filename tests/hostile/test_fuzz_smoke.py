"""A taste of ``benchmarks/fuzz_decode.py``: its strategy, ~50 mutated images, in this process.

The benchmark runs for minutes in a worker process that also catches hangs and hard crashes;
this smoke test keeps the contract (an RGB image or ImageDecodeError, nothing else) in the suite.
"""

from __future__ import annotations

import io
import struct
import warnings

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from tests.conftest import load_benchmark  # noqa: E402

fuzz = load_benchmark("fuzz_decode")


@pytest.mark.slow
@settings(max_examples=50, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(fuzz.mutated_images())
def test_mutated_images_decode_or_are_refused(case):
    fmt, data, mutations = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the corrupt metadata it skips
        outcome, detail = fuzz.check_contract(data)
    assert outcome in ("image", "refused"), f"{fmt} seed, mutations {mutations!r}: {detail}"


def test_the_dimension_fields_point_at_each_formats_size():
    """The header edits must hit width/height, or the fuzzer silently stops testing size handling."""
    from PIL import Image

    for fmt, data in fuzz.seed_images():
        fields = fuzz.dimension_fields(fmt, data)
        assert fields, fmt
        if fmt in ("PNG", "BMP", "JPEG"):
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
            values = [struct.unpack_from(f.order + {2: "H", 4: "I"}[f.size], data, f.offset)[0] for f in fields[:2]]
            assert sorted(values) == sorted((width, height)), fmt
