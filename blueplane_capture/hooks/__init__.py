"""Hook executables the IDEs run on every event. Each must start in milliseconds, print nothing
and exit 0 whatever happens, so this package imports nothing and its hook path uses only C
modules (see ``primitives``)."""
