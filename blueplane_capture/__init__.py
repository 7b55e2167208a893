"""Capture: hooks, monitors and receivers that turn what the tools emit into sanitized events
on the events stream. Privacy is enforced here, before anything leaves the process.
"""
