"""Plain logic of the pipeline: no I/O, no cloud clients."""
