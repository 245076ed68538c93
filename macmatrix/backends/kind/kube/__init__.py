"""Kubernetes operations for the kind backend, through the official client.

Pure parts (podstate: what a pod's state means; annotations: what the reporters claimed) take
plain dicts as the API serialises them (camelCase) and are unit-tested without a cluster; matrix
and diagnostics hold the calls, taking the API objects as arguments so tests can pass
autospec'd stand-ins.
"""
