"""Suite-wide settings: the persistent XLA cache goes to a temporary folder, never the user's ~/.cache."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_compile_cache(tmp_path_factory):
    if "RNNCLI_CACHE_DIR" not in os.environ:
        os.environ["RNNCLI_CACHE_DIR"] = str(tmp_path_factory.mktemp("rnncli-cache"))
    yield
