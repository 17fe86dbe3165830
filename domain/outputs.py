"""Where a job's outputs live in the results bucket: one naming for every writer and reader.

The worker and the render function write them; the variant function reads the mask (job_status
signs the result object its job recorded). Retention is the results bucket's (topology.yaml).
"""

from __future__ import annotations


def result_name(job_id: str, output_format: str) -> str:
    """The job's cut-out, in the format it asked for."""
    return f"results/{job_id}.{output_format}"


def mask_name(job_id: str) -> str:
    """The job's mask: lossless 8-bit grey PNG, the size of the decoded, upright upload
    (cutout/masks.py), written before the result, so a result always has its mask."""
    return f"masks/{job_id}.png"
