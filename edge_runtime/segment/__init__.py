"""Find handwritten digits in a photo: grey image -> digit crops in reading order.

Read in this order (one module per idea):
1. ``ink``: the background (a closing of a ~160 px copy) and the ink's polarity (two cheap
   votes; ambiguous frames are searched both ways); dividing the background out gives an ink
   map in [0, 1] that does not care about lighting.
2. ``sheet``: a bright, smooth sheet on a darker or textured surround masks out the rest.
3. ``components``: hysteresis thresholds (weak ink kept where it touches strong ink), grid
   lines removed, connected components as ``Component`` records.
4. ``blobs``: junk dropped (faint blobs, frame and sheet edges, specks), broken strokes of one
   digit merged, slivers attached, touching digits split; sizes relative to the median digit.
5. ``order``: rows top to bottom, each left to right (a sloping row stays one row).
6. ``finder``: the driver, coarse to fine, with the work bounded for any frame of a given
   size (at most ``max_blobs`` blobs in the pairwise steps, texture and noise given up early);
   ``refine``: small digits that stand apart keep the coarse segmentation, their ink taken at
   full resolution, instead of a second search.
7. ``options``: every option and shared constant with the reason for its value; ``stats``:
   numpy's median and percentile, bit for bit, at a fraction of their cost on small arrays.

    python -m edge_runtime.segment photo.jpg boxes.png   # draws the boxes found
"""

from edge_runtime.segment.components import Component, ink_components, ink_mask
from edge_runtime.segment.finder import find_digit_candidates, find_digits
from edge_runtime.segment.ink import dark_ink, ink_map, polarity
from edge_runtime.segment.options import DEFAULT, Blob, BlobList, FinderInputError, SegmentOptions
from edge_runtime.segment.order import reading_order
from edge_runtime.segment.sheet import sheet_mask

__all__ = [
    "DEFAULT",
    "Blob",
    "BlobList",
    "Component",
    "FinderInputError",
    "SegmentOptions",
    "dark_ink",
    "find_digit_candidates",
    "find_digits",
    "ink_components",
    "ink_map",
    "ink_mask",
    "polarity",
    "reading_order",
    "sheet_mask",
]
