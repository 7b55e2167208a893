"""The file Claude Code runs: ``<python> -I -S .../launch_claude_code.py`` (kept tiny on purpose).

Python compiles the script it is given on every start but loads imported modules from cached
bytecode; the hook's code therefore lives in ``claude_code`` and this file only finds it
(``-I`` leaves the repository off ``sys.path``) and calls it. Saves ~2 ms per fire. The cyclic
garbage collector is switched off first: it only ran during the imports of a process that
lives milliseconds.
"""

import gc
import posix
import sys

gc.disable()  # the process lives milliseconds: collecting cycles during its imports only costs
# the repository root, three levels up (``os.path`` is not imported: see blueplane_core.fast_start)
sys.path.insert(
    0, (__file__ if __file__[0] == "/" else f"{posix.getcwd()}/{__file__}").rsplit("/", 3)[0]
)
from blueplane_capture import hooks  # noqa: E402  (after gc.disable)

sys.meta_path.insert(0, hooks)  # type: ignore[arg-type]  # the rest from .pyc directly (see there)
from blueplane_capture.hooks.claude_code import main  # noqa: E402

main()
