# What Cursor runs: ``<python> -I -S <this file> <eventName>``. Python compiles this file on
# every fire, so it stays this small: the rest is cached bytecode (blueplane_capture.fire).
import sys

sys.path.insert(0, __file__.rsplit("/", 3)[0])  # the repository root (``__file__`` is absolute)
import blueplane_capture

blueplane_capture.fire("cursor")
