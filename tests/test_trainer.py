"""The one training loop reproduces the old entry points' outputs bit for bit (tests/reference/make_reference.py)."""

import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "reference"))
import make_reference

REFERENCE = torch.load(Path(__file__).parent / "reference" / "trainer.pt", weights_only=False)


def assert_same(a, b, key: str) -> None:
    """Equal bit for bit: frames exactly (dtypes, values, NaN where NaN), tensors by torch.equal."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=key)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), key


@pytest.mark.parametrize("case", list(make_reference.CASES))
def test_reproduces_reference(case):
    torch.set_num_threads(1)
    got = make_reference.CASES[case]()
    ref = REFERENCE[case]
    assert sorted(got) == sorted(ref)
    for key in ref:
        assert_same(got[key], ref[key], f"{case}/{key}")
