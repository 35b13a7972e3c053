"""The shared core: plain data types and helpers every stage uses.

Holds the observation and signal models, the error tree, the clock, country names, the
policy-news kinds and the helpers that make outside text safe. Pure: imports nothing of
critmon's and no I/O library.
"""
