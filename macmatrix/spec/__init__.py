"""Layer 1, the case spec: matrix axes -> cases and ids, the -k selection, stacks.toml and
pasted input. Imports only the core (errors, macs, versions, limits, observe, data)."""
