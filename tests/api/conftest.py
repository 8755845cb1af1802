from __future__ import annotations

from typing import Any

import pytest

from tests.accounts.world import World
from tests.accounts.world import build_world
from tests.accounts.world import local_packages_storage


@pytest.fixture
def world(settings: Any, tmp_path: Any) -> World:
    local_packages_storage(settings, tmp_path)
    return build_world()
