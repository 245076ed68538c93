"""The netns backend: real CNI plugin binaries in real network namespaces (root or rootless)."""
