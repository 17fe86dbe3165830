"""Ports (small abstract interfaces) and their Google Cloud adapters.

Clients are built only in bootstrap.py; the same code talks to the emulators
when the standard *_EMULATOR_HOST variables are set.
"""
