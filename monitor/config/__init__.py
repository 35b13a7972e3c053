"""The configuration: the four YAML files as validated pydantic models, and how they are loaded.

One module per file it describes, the shared field types (durations, sizes, secret references)
and the loader (file:line errors, secrets resolved at load). May import ``monitor.core`` only.
"""
