"""macmatrix's pytest plugin: options, backend selection, the shared matrix run, recording.

Registered with the `pytest11` entry point `macmatrix` (pyproject.toml), so with macmatrix
installed `pytest --backend netns` works in any folder and in a user's own repository, and
`pytest --backend netns --pyargs macmatrix.e2e` runs the default matrix from anywhere. In a plain
checkout without the entry point, the root conftest.py registers this same module once.
"""

pytest_plugins = [
    "macmatrix.pytest_plugin.options",
    "macmatrix.pytest_plugin.matrix",
    "macmatrix.pytest_plugin.upgrade",
]
