"""A thin seam: registers macmatrix's pytest plugin (macmatrix/pytest_plugin) when no installed
entry point did, so `pytest` works from a plain checkout (PYTHONPATH) as from an install."""

import importlib

import pytest


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Entry points and -p plugins are registered before this root conftest is imported; the
    plugin's own options are added when it registers (pytest_addoption is a historic hook)."""
    if pluginmanager.has_plugin("macmatrix") or pluginmanager.is_blocked("macmatrix"):
        return
    pluginmanager.register(importlib.import_module("macmatrix.pytest_plugin"), "macmatrix")
