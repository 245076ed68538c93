"""Layer 5, running a selection: retries, the results.json entries and their atomic writes."""
