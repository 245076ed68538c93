"""Pinned installs for the kind backend: stacks, downloads and their lock, cluster, Docker, plan.

Pure parts (stacks, lock, kindconfig, plan) are unit-tested; the parts that touch Docker, kind or
a cluster (docker, cluster, install) stay thin and only run what the plan says.
"""
