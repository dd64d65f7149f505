"""Shared fixtures live in tests/plugins, one module per real service the tests start."""

import importlib.util

pytest_plugins = [
    name
    for name in ("tests.plugins.moto_server", "tests.plugins.ray_cluster", "tests.plugins.images")
    if importlib.util.find_spec(name) is not None
]
