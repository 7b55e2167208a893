"""The ``blueplane`` admin command: the composition root that starts, stops and inspects the
pipeline and mounts each stage's own commands. It is the only package that imports several
stages; the stages themselves never import each other.
"""
