"""critmon: an early-warning daemon for critical-mineral supply security."""

__version__ = "0.1.0"
