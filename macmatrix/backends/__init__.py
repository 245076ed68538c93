"""Backends turn cases into observations. They never judge, and never import each other.

registry.py is the one list of backend names: each backend registers itself from its own
`<name>/entry.py` (how to open it, why it cannot run here, its dry-run plan, whether `auto` may
pick it, whether it runs single repro pods)."""
