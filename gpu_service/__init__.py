"""The GPU Cloud Run service: segment pets, write cut-outs, report job events."""
