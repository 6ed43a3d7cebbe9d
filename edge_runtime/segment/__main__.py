"""Draw the digit boxes the finder sees on an image.

python -m edge_runtime.segment photo.jpg boxes.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_runtime.segment", description=__doc__.splitlines()[0])
    p.add_argument("image", type=Path, help="the photo to look at")
    p.add_argument("out", type=Path, help="where to write the image with the boxes (PNG, JPEG, ...)")
    a = p.parse_args(argv)
    import cv2

    from edge_runtime.imageio import ImageError, load_image, to_grey
    from edge_runtime.segment.finder import find_digits

    try:
        image = load_image(a.image)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    blobs = find_digits(to_grey(image))
    vis = (image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)).copy()
    for k, b in enumerate(blobs):
        x, y, w, h = b.box
        cv2.rectangle(vis, (x, y), (x + w, y + h), (0, 0, 255), 2)
        cv2.putText(vis, str(k), (x, y - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 0, 0), 2)
    try:
        ok = cv2.imwrite(str(a.out), vis)
    except cv2.error as exc:
        ok, reason = False, str(exc).strip().splitlines()[-1]
    else:
        reason = "unknown image format or unwritable folder"
    if not ok:
        print(f"error: could not write {a.out}: {reason}", file=sys.stderr)
        return 1
    print(f"{len(blobs)} blobs -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
