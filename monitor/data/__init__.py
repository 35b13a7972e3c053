"""Bundled public data shipped with critmon (see ATTRIBUTION.md)."""
