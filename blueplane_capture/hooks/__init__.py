"""Hook executables the IDEs run on every event. Each must start in milliseconds, print nothing
and exit 0 whatever happens, so this package imports only builtin modules and its hook path
uses only C modules (see ``primitives``). No module on that path has ``from __future__ import
annotations``: the statement loads the ``__future__`` module, about 2% of a fire; annotations
that name typing-only types (``Any``) are written as strings instead (``test_claude_hook``
checks).

The launchers start through ``blueplane_capture.fire``, which also installs the import
finder that loads the rest of a fire from current bytecode (see ``blueplane_capture``).
"""
