"""Layer 6, views of results: the report (terminal, Markdown, HTML), compare, JUnit, baselines."""
