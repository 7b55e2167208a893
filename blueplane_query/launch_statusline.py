# What ``blueplane install statusline`` writes: ``<python> -I -S <this file> [--chain COMMAND]``.
# Python compiles this file on every line, so it stays this small: the rest is cached bytecode
# (``statusline.launch``).
import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0])  # the package root (``__file__`` is absolute)
from blueplane_query import statusline

statusline.launch()
