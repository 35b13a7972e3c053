"""The ``critmon`` command line (click): one module per command group.

The top layer: may import everything; nothing imports it. ``main`` holds the entry point.
"""
