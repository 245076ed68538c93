"""Registers macmatrix's pytest plugins (fixtures/) for `pytest e2e/` and `pytest tests/`."""

pytest_plugins = ["fixtures.options", "fixtures.matrix", "fixtures.upgrade"]
