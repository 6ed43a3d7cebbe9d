"""normalize_digit: MNIST's own construction (20x20 fit, centre of mass, grey levels)."""

import cv2
import numpy as np
import pytest

from edge_runtime.preprocess import NormalizeOptions, holes, normalize_digit, stroke_width


def centre_of_mass(img):
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return (img * ys).sum() / img.sum(), (img * xs).sum() / img.sum()


def test_mnist_digits_come_back_almost_unchanged(mnist_test):
    # MNIST digits already are what normalize_digit makes: it must be (nearly) the identity.
    x, _ = mnist_test
    corr = []
    for d in x[:200]:
        out = normalize_digit(d)
        a, b = out.ravel(), d.astype(np.float32).ravel() / 255.0
        corr.append(np.corrcoef(a, b)[0, 1])
    assert np.median(corr) > 0.9, np.median(corr)


def test_output_shape_range_and_centring():
    img = np.zeros((120, 60), np.uint8)
    cv2.line(img, (30, 10), (30, 110), 255, 8)  # a tall "1" near the left edge of its crop
    cv2.line(img, (30, 10), (15, 30), 255, 8)
    out = normalize_digit(img)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() == pytest.approx(1.0)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 13.5) < 1.0 and abs(cx - 13.5) < 1.0
    ys, xs = np.nonzero(out > 0.1)
    assert 18 <= ys.max() - ys.min() + 1 <= 21  # the longer side fits 20 px
    assert xs.max() - xs.min() + 1 < 14  # aspect ratio kept: narrow stays narrow


def test_grey_levels_not_binary():
    img = np.zeros((200, 200), np.uint8)
    cv2.circle(img, (100, 100), 70, 255, 12)
    out = normalize_digit(img)
    grey = ((out > 0.05) & (out < 0.95)).sum()
    assert grey > 20  # anti-aliased edges


def test_thin_strokes_are_thickened_a_little_and_thick_ones_thinned():
    thin = np.zeros((400, 400), np.uint8)
    cv2.circle(thin, (200, 200), 150, 255, 2)  # 2 px on a 300 px digit -> 0.13 px at 28x28
    thick = np.zeros((100, 100), np.uint8)
    cv2.circle(thick, (50, 50), 35, 255, 22)
    as_is = NormalizeOptions(stroke_range=(0.0, 1e9))
    full = NormalizeOptions(max_thicken_px=99.0)  # all the way to the target
    assert 1.5 <= stroke_width(normalize_digit(thin, full) > 0.5) <= 4.0  # MNIST: 1.9-3.5
    assert 1.5 <= stroke_width(normalize_digit(thick) > 0.5) <= 4.0
    # By default a thin pen gains at most max_thicken_px (0.5 px) of width at 28x28:
    ink = [normalize_digit(thin, o).sum() for o in (as_is, NormalizeOptions(), full)]
    assert ink[0] < ink[1] < ink[2], ink
    assert normalize_digit(thick).sum() < 0.8 * normalize_digit(thick, as_is).sum()


def test_thickening_never_closes_a_loop():
    """A long-tailed 9 written with a thin pen: fitted into 20 px its loop is small, and a
    dilation wide enough to bring the stroke to MNIST's width fills it (a 1 with a blob)."""
    nine = np.zeros((100, 24), np.uint8)
    cv2.circle(nine, (12, 11), 8, 255, 1)
    cv2.line(nine, (20, 11), (20, 98), 255, 1)
    full = NormalizeOptions(max_thicken_px=99.0)
    k = round((full.stroke_target - 0.2) / 0.2)  # the disc that would reach the target width
    naive = cv2.dilate(nine, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1)))
    assert (
        holes((normalize_digit(nine, NormalizeOptions(stroke_range=(0.0, 1e9))) > 0.35).view(np.uint8), 1)
        == 1
    )
    assert (
        holes((normalize_digit(naive, NormalizeOptions(stroke_range=(0.0, 1e9))) > 0.35).view(np.uint8), 1)
        == 0
    )
    for options in (NormalizeOptions(), full):
        out = normalize_digit(nine, options)
        assert holes((out > 0.35).view(np.uint8), 1) == 1


def test_holes_counts_loops_not_the_outside():
    eight = np.zeros((40, 30), np.uint8)
    cv2.circle(eight, (15, 10), 7, 1, 2)
    cv2.circle(eight, (15, 27), 8, 1, 2)
    assert holes(eight, 1) == 2 and holes(eight, 10_000) == 0
    assert holes(np.zeros((5, 5), np.uint8), 1) == 0


def test_uint8_and_float_agree_and_empty_is_zero():
    img = np.zeros((50, 40), np.uint8)
    cv2.putText(img, "7", (5, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 255, 4)
    np.testing.assert_allclose(normalize_digit(img), normalize_digit(img.astype(np.float32) / 255), atol=1e-5)
    assert not normalize_digit(np.zeros((10, 10), np.uint8)).any()
    with pytest.raises(ValueError):
        normalize_digit(np.zeros((10, 10, 3), np.uint8))


def test_cli_writes_where_it_is_told(tmp_path):
    from edge_runtime.preprocess import main

    img = np.full((80, 60), 230, np.uint8)
    cv2.line(img, (30, 10), (30, 70), 20, 6)
    src, out = tmp_path / "one.png", tmp_path / "norm.png"
    cv2.imwrite(str(src), img)
    assert main([str(src), str(out)]) == 0
    assert cv2.imread(str(out), cv2.IMREAD_GRAYSCALE).shape == (28, 28)
    assert main([str(src)]) == 2


def test_hole_count_equals_the_contour_hierarchys_inner_outlines_and_labelled_areas():
    """``holes`` counts the background's 4-connected regions that do not reach the border: the
    same count as the inner outlines of OpenCV's two-level contour hierarchy (a different
    algorithm: 8-connected ink, its holes 4-connected), and as labelling with areas; and
    ``holes_above`` (the normaliser's, on float values) the same as ``holes`` of the thresholded
    mask, whatever the level's sign."""
    from edge_runtime.preprocess import _holes_of_background, holes_above

    def inner_outlines(mask: np.ndarray) -> int:
        _, hierarchy = cv2.findContours((mask != 0).view(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        return 0 if hierarchy is None else int(np.count_nonzero(hierarchy[0, :, 3] >= 0))

    rng = np.random.default_rng(8)
    counts = set()
    for trial in range(3000):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        mask = (rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
        if trial % 3 == 0:  # strokes with loops, as digits at 28x28
            mask = np.zeros((h + 10, w + 10), np.uint8)
            for _ in range(int(rng.integers(1, 4))):
                centre = (int(rng.integers(0, w + 10)), int(rng.integers(0, h + 10)))
                cv2.circle(mask, centre, int(rng.integers(1, 8)), 1, int(rng.integers(1, 3)))
        n = holes(mask, 1)
        framed = cv2.copyMakeBorder((mask == 0).view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
        assert n == inner_outlines(mask) == _holes_of_background(framed, 1), mask
        level = float(rng.uniform(-1.0, 1.0))
        values = np.where(
            mask > 0, level + rng.uniform(1e-3, 1.0, mask.shape), level - rng.uniform(0, 1.0, mask.shape)
        )
        values = values.astype(np.float32)
        assert holes_above(values, level, 1) == holes((values > level).view(np.uint8), 1), (values, level)
        assert holes_above(values, level, 4) == holes((values > level).view(np.uint8), 4)
        counts.add(n)
    assert {0, 1, 2} <= counts  # (masks without holes, with one and with several)
