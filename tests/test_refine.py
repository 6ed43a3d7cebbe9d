"""Small digits that stand apart are read from the coarse pass's segmentation, their ink taken
at full resolution (edge_runtime.segment.refine), instead of a second search (the closer look)."""

import numpy as np

import edge_runtime.segment.finder as finder
from edge_runtime.segment import Component, find_digits
from edge_runtime.segment.options import DEFAULT
from edge_runtime.segment.refine import APART, NEAR, apart
from tests.test_segment import small_digits_frame


def passes_and_blobs(frame, monkeypatch, closer: bool):
    """(the finder's passes (work shape, region searched), per call of ``refined`` whether the coarse digits stood
    apart and whether it read them, the blobs);
    ``closer``: with the refinement turned off (every small digit gets the closer look)."""
    if closer:
        monkeypatch.setattr(finder, "REFINE_FROM", DEFAULT.min_digit_px)
    passes, refined = [], []
    real_pass, real_refined = finder.find_at, finder.refined
    monkeypatch.setattr(
        finder,
        "find_at",
        lambda w, *a, **k: passes.append((w.shape, k.get("region"))) or real_pass(w, *a, **k),
    )

    def spy(*a, **k):
        out = real_refined(*a, **k)
        refined.append((a[-1].apart is not None, out is not None))  # (stood apart, read so)
        return out

    monkeypatch.setattr(finder, "refined", spy)
    blobs = find_digits(frame)
    monkeypatch.undo()
    return passes, refined, blobs


def test_small_digits_apart_are_read_in_one_pass_as_the_closer_look_reads_them(clean_digits, monkeypatch):
    frame = small_digits_frame(clean_digits[0])
    passes, refined, blobs = passes_and_blobs(frame, monkeypatch, closer=False)
    assert passes == [((240, 320), None)] and refined == [(True, True)]  # the coarse pass, then the fine ink
    assert blobs.closer and blobs.dark  # read at full resolution: a camera's next frames look closer at once
    look_passes, _, looked = passes_and_blobs(frame, monkeypatch, closer=True)
    assert [shape for shape, _ in look_passes] == [(240, 320), (480, 640)]
    # The same digits, boxes and ink, pixel for pixel (on this frame; on the readings check's
    # frames, a few weak pixels at a stroke's edge differ on 15 of 221).
    assert [b.box for b in blobs] == [b.box for b in looked] and len(blobs) == 10
    assert all(np.array_equal(a.ink, b.ink) for a, b in zip(blobs, looked))


def test_reads_the_same_text_as_the_closer_look(clean_digits, classifier, monkeypatch):
    from edge_runtime.pipeline import DigitReader

    x, y = clean_digits
    texts = {}
    for closer in (False, True):
        if closer:
            monkeypatch.setattr(finder, "REFINE_FROM", DEFAULT.min_digit_px)
        reader = DigitReader(classifier, min_confidence=0.0)
        texts[closer] = [reader.read(small_digits_frame(x[k : k + 10])).text for k in range(0, 60, 10)]
    assert texts[False] == texts[True]


def test_a_stroke_the_coarse_pass_could_not_see_gets_the_closer_look(clean_digits, monkeypatch):
    # A thin strong line beside a digit: averaged away at the coarse scale (no strong ink there),
    # strong at full resolution, where the closer look decides what it belongs to.
    frame = small_digits_frame(clean_digits[0]).copy()
    blobs = find_digits(frame)
    x, y, w, h = blobs[2].box
    frame[y + 5 : y + h - 5, x + w + 4] = 40  # one px wide, 4 px to the right of the digit
    from edge_runtime.segment import ink

    made = []  # the full-resolution image's contrast, made once: the closer look takes refine's
    for module in (finder, ink):
        real = module.contrast_and_sample
        monkeypatch.setattr(
            module, "contrast_and_sample", lambda *a, real=real: made.append(a[0].shape) or real(*a)
        )
    passes, refined, found = passes_and_blobs(frame, monkeypatch, closer=False)
    assert made == [(480, 640)]
    assert refined == [(True, False)] and [shape for shape, _ in passes] == [(240, 320), (480, 640)]
    assert passes[1][1] is not None  # the closer look searches around the digits, not the whole frame
    _, _, looked = passes_and_blobs(frame, monkeypatch, closer=True)
    assert [b.box for b in found] == [b.box for b in looked]


def comp(x, y, w=10, h=20, touches=False):
    return Component(x, y, w, h, [], touches)


def labels_of(comps, shape=(120, 200), others=()):
    """A label image holding each component's box as its label, and ``others`` (boxes) as
    further labels; -> (labels, keep) with every label ink."""
    labels = np.zeros(shape, np.int32)
    n = 1
    for c in comps:
        c.ids = [n]
        labels[c.y : c.bottom, c.x : c.right] = n
        n += 1
    for x, y, w, h in others:
        labels[y : y + h, x : x + w] = n
        n += 1
    keep = np.ones(n, bool)
    keep[0] = False
    return labels, keep


def test_apart_wants_digits_clear_of_each_other_and_of_other_ink():
    row = [comp(10 + 30 * k, 40) for k in range(4)]
    labels, keep = labels_of(row)
    assert apart(row, labels, keep, 20.0)
    # Two boxes closer than APART px, side by side or one above the other.
    close = [comp(10, 40), comp(20 + APART - 1, 40)]
    assert not apart(close, *labels_of(close), 20.0)
    stacked = [comp(10, 10), comp(10, 30 + APART - 1)]
    assert not apart(stacked, *labels_of(stacked), 20.0)
    spaced = [comp(10, 10), comp(10, 30 + APART)]
    assert apart(spaced, *labels_of(spaced), 20.0)
    # A digit at the frame's or the sheet's edge, and the pieces of one split blob.
    edge = [comp(10, 40), comp(60, 40, touches=True)]
    assert not apart(edge, *labels_of(edge), 20.0)
    split = [comp(10, 40), comp(40, 40)]
    labels, keep = labels_of(split)
    split[1].ids = split[0].ids
    assert not apart(split, labels, keep, 20.0)
    # Other ink (a speck the coarse pass set aside) within NEAR digit heights of a digit.
    reach = int(np.ceil(NEAR * 20.0))
    labels, keep = labels_of(row, others=[(row[0].right + reach - 1, 45, 2, 2)])
    assert not apart(row, labels, keep, 20.0)
    keep[-1] = False  # not ink (no strong pixel): no matter
    assert apart(row, labels, keep, 20.0)
    labels, keep = labels_of(row, others=[(row[-1].right + reach + 2, 45, 2, 2)])
    assert apart(row, labels, keep, 20.0)


def test_apart_of_nothing_is_false():
    assert not apart([], np.zeros((10, 10), np.int32), np.zeros(1, bool), 20.0)
