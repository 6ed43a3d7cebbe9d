"""The edge runtime: numpy + OpenCV + LiteRT only (see edge_runtime/__main__.py)."""

import os

MAX_PIXELS = 40_000_000
"""Images with more pixels than this are refused (a 40 MP BGR image is already 120 MB)."""

# OpenCV reads this once, when cv2 is first imported: setting it later does nothing (checked
# with OpenCV 5.0). The package is imported before any of its modules import cv2, so this is
# early enough unless the caller imported cv2 first; imageio checks every header anyway.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
