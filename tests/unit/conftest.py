"""Fixtures of the unit tier: nothing here needs an exported MoViNet."""

import pytest

from .tiny_model import save_tiny_base_model


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> str:
    """The tiny real SavedModel of `tiny_model.py`, saved once per session (TensorFlow's start-up is most of it)."""
    return save_tiny_base_model(str(tmp_path_factory.mktemp("tiny") / "base"))
