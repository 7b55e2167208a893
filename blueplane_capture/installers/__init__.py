"""Installers: register Blueplane with a tool (hooks, settings); remove exactly what they added."""
