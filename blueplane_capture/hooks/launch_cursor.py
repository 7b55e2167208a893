"""The file Cursor runs: ``<python> -I -S .../launch_cursor.py <eventName>`` (kept tiny on purpose).

As ``launch_claude_code.py``: Python compiles the script it is given on every start but loads
imported modules from cached bytecode, so the hook's code lives in ``cursor`` and this file only
finds it (``-I`` leaves the repository off ``sys.path``) and calls it, with the cyclic garbage
collector off for a process that lives milliseconds. Saves ~10% of a fire.
"""

import gc
import posix
import sys

gc.disable()
# the repository root, three levels up (``os.path`` is not imported: see blueplane_core.fast_start)
sys.path.insert(
    0, (__file__ if __file__[0] == "/" else f"{posix.getcwd()}/{__file__}").rsplit("/", 3)[0]
)
from blueplane_capture import hooks  # noqa: E402  (after gc.disable)

sys.meta_path.insert(0, hooks)  # type: ignore[arg-type]  # the rest from .pyc directly (see there)
from blueplane_capture.hooks.cursor import main  # noqa: E402

main()
