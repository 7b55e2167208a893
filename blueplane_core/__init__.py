"""The contracts every Blueplane stage shares: stream names, the event envelope, configuration,
the Redis connection, privacy helpers, the SQLite schema and its codec.

Nothing here holds a stage's logic. Importing this package has no side effects, and the modules
a hook needs (`streams`, `events`, `privacy`, `paths`) use only the standard library so that the
short-lived hook process stays fast.
"""
