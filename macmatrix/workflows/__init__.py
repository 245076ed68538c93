"""Layer 7, workflows built on runs and views: repro (and its fix search), lint, the upgrade check,
the CI gate, doctor and cleanup."""
