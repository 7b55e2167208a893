"""The file ``blueplane install statusline`` runs: ``<python> -I -S .../launch_statusline.py``.

As the hooks' launcher (``blueplane_capture/hooks/launch_claude_code.py``): ``-S`` skips the
site-packages scan and the editable install's import finder (~15 ms), ``-I`` the user's
``PYTHON*`` variables; this file only puts the package root on the path and calls
``statusline.run``, whose module is loaded from cached bytecode, then leaves without the
interpreter's teardown (``run`` has flushed the line; nothing else is open). The arguments are
``bp-query statusline``'s (``--chain COMMAND``).
"""

import posix
import sys

# the package root, two levels up (``os`` is not imported: see blueplane_capture.hooks.primitives)
sys.path.insert(
    0, (__file__ if __file__[0] == "/" else f"{posix.getcwd()}/{__file__}").rsplit("/", 2)[0]
)
# ... and, last on the path, the interpreter's own site-packages (``<venv>/bin/python`` ->
# ``<venv>/lib/pythonX.Y/site-packages``), which -S leaves off, for hiredis alone: it parses
# the day of per-minute counters in C (``resp.parses_in_c``). No .pth file is processed.
sys.path.append(
    f"{sys.executable.rsplit('/', 2)[0]}/lib/python{sys.version_info[0]}.{sys.version_info[1]}"
    "/site-packages"
)
from blueplane_query.statusline import run

code = run(sys.argv[1:])
sys.stdout.flush()
posix._exit(code)
