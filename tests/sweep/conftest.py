"""The engine tests' shared reference: the tiny WSD sweep trained once in-process per test session, with the
compile cache the engines' workers share."""

from __future__ import annotations

import enginetests as et
import pytest


@pytest.fixture(scope="session")
def engine_reference(tmp_path_factory: pytest.TempPathFactory) -> et.fu.Snapshot:
    """The in-process store every engine's run of the sweep must equal."""
    et.use_compile_cache(tmp_path_factory.mktemp("jaxcache"))
    return et.reference_snapshot(tmp_path_factory.mktemp("reference"))
