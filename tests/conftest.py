"""Test-suite hooks (the root conftest.py stays the plugin's thin seam).

Every results.json the writer makes while the tests run, every journal line it appends and every
`repro` entry is validated against the JSON Schema macmatrix ships (macmatrix/data/schema), so a
field that drifts from the contract fails the test that wrote it. Files a subprocess writes are
validated by the tests that read them (tests/schema_check.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import schema_check

from macmatrix.run.results import ResultsWriter
from macmatrix.workflows import repro


@pytest.fixture(autouse=True, scope="session")
def written_results_match_the_schema() -> Iterator[None]:
    append, flush, run = ResultsWriter._append, ResultsWriter._flush, repro.run

    def checked_append(self: ResultsWriter, entry: Any) -> None:
        schema_check.entry(entry, f"{self.journal}: the line for {entry.get('id')!r}", True)
        append(self, entry)

    def checked_flush(self: ResultsWriter) -> None:
        flush(self)
        schema_check.results(json.loads(self.path.read_text()), str(self.path))

    def checked_run(*args: Any, **kwargs: Any) -> Any:
        entry = run(*args, **kwargs)
        schema_check.entry(entry, "the repro entry")
        return entry

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ResultsWriter, "_append", checked_append)
        mp.setattr(ResultsWriter, "_flush", checked_flush)
        # every binding of repro.run: `from macmatrix.workflows.repro import run` (cli/repro.py)
        # holds the function itself, so patching the module attribute alone would miss it
        for module in [m for n, m in list(sys.modules.items()) if n.split(".")[0] == "macmatrix"]:
            for attr, value in list(vars(module).items()):
                if value is run:
                    mp.setattr(module, attr, checked_run)
        yield
