"""The image work both sides share, in data-flow order: decode within a budget (imaging.decode),
the mask as an object (masks), the subject's colour on soft edges (foreground), the cut-out and
its encoding (imaging.cut_out, imaging.encode), and a variant from a stored mask (variant_render).

PIL, numpy and OpenCV only, no model and no I/O: the GPU service imports it around its model,
and the render and variant functions import it to cut out on a CPU what the model once masked.
"""
