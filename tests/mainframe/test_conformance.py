"""Every variant of every Cobrix conformance case, decoded and compared value by value with Cobrix's rows."""

from __future__ import annotations

import os

import pytest

from tests.mainframe.conformance import Variant, conformance_dir, discover, run_variant

VARIANTS = discover()


def test_suite_is_present() -> None:
    if not conformance_dir().is_dir() and not os.environ.get("COBRIX_CONFORMANCE_DIR"):
        pytest.skip(
            f"the Cobrix conformance suite is not on this machine ({conformance_dir()}); set COBRIX_CONFORMANCE_DIR"
        )
    assert VARIANTS, f"no conformance cases found under {conformance_dir()} (set COBRIX_CONFORMANCE_DIR)"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_variant(variant: Variant) -> None:
    run_variant(variant)
