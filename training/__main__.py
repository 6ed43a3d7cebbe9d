"""Train a digit classifier from the command line.

    python -m training --arch lstm --out runs/lstm            # default recipe (the shipped LSTM-64)
    python -m training --arch lstm --no-augment --epochs 24 --out runs/lstm_plain
    python -m training --recipe lesson                        # the lesson: 150 steps, prints predictions
    MNIST_PATH=/data/mnist.npz python -m training --arch gru  # or --mnist /data/mnist.npz

Options not given keep the recipe's value (see training/train.py TrainOptions).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from training.architectures import TRAINABLE

RECIPES = ("default", "shipped", "lesson", "teacher")


# parse_options is long on purpose: one add_argument per training option, in TrainOptions'
# order, so the flags read as one list next to the defaults they print.
def parse_options(argv: list[str] | None = None):
    from training.train import (
        SCHEDULES,
        TrainOptions,
    )  # imports TensorFlow: not at module level, so --help is quick

    d = TrainOptions()
    p = argparse.ArgumentParser(
        prog="python -m training", description="Train a rows-as-steps recurrent MNIST classifier."
    )
    p.add_argument(
        "--recipe",
        choices=RECIPES,
        default="default",
        help="default: the shipped LSTM-64's; shipped: the one --arch's committed run used (the "
        "relatives: 20 epochs, no styles, no elastic); lesson: Adam 0.01, batch 64, 150 steps; teacher: "
        "the CNN that --teacher distils from, into runs/cnn (default: default)",
    )
    p.add_argument(
        "--arch", choices=TRAINABLE, help=f"recurrent layer, or cnn: the teacher (default: {d.arch})"
    )
    p.add_argument("--units", type=int, help=f"recurrent units (default: {d.units})")
    p.add_argument(
        "--out", dest="out_dir", help="run folder (default: runs/<arch>, runs/<arch>_lesson for the lesson)"
    )
    p.add_argument("--epochs", type=int, help=f"passes over the training split (default: {d.epochs})")
    p.add_argument("--steps", type=int, help="stop after this many optimizer steps instead (lesson: 150)")
    p.add_argument("--batch-size", type=int, help=f"images per step (default: {d.batch_size}; lesson 64)")
    p.add_argument("--lr", type=float, help=f"peak Adam learning rate (default: {d.lr}; lesson 0.01)")
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help=f"learning-rate schedule (default: {d.schedule}; lesson constant)",
    )
    p.add_argument(
        "--warmup", type=float, help=f"warm-up fraction of all steps, onecycle only (default: {d.warmup})"
    )
    p.add_argument(
        "--clipnorm", type=float, help=f"clip gradients to this global norm, 0 = off (default: {d.clipnorm})"
    )
    p.add_argument("--seed", type=int, help=f"random seed (default: {d.seed})")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random rotation/scale/shear/shift/stroke width (default: on; lesson off)",
    )
    p.add_argument(
        "--styles",
        type=float,
        help=f"with --augment: share of 1/4/7/9s rewritten in other writing styles (training/styles.py), "
        f"0 = off; without --elastic a quarter of that share of all digits is also elastic (default: {d.styles})",
    )
    p.add_argument(
        "--styles-every-epoch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw the style edits afresh every epoch; --no-styles-every-epoch: once per run (default: on)",
    )
    p.add_argument(
        "--elastic",
        type=float,
        help=f"with --augment: share of every batch given a fresh elastic distortion, 0 = off "
        f"(training/augment.py; default: {d.elastic})",
    )
    p.add_argument(
        "--style-weights",
        help="with --styles: per style a 0..1 factor on its share, e.g. long_tail_9=0.5,open_top_4=0.5 "
        "(default: all 1)",
    )
    p.add_argument(
        "--teacher",
        help="run folder of a trained teacher (--recipe teacher), or several joined by commas (their "
        "ensemble): distil from it (default: labels only)",
    )
    p.add_argument(
        "--distill", type=float, help=f"with --teacher: weight of its soft targets (default: {d.distill})"
    )
    p.add_argument(
        "--distill-temperature",
        type=float,
        help=f"with --teacher: softmax temperature of the distillation term (default: {d.distill_temperature})",
    )
    p.add_argument(
        "--mnist", help="path to mnist.npz (default: $MNIST_PATH, then ~/.keras/datasets/mnist.npz)"
    )
    p.add_argument(
        "--val-size", type=int, help=f"validation images held out of train (default: {d.val_size})"
    )
    p.add_argument("--train-limit", type=int, help="train on only the first N images (default: all)")
    p.add_argument(
        "--eval-every", type=int, help="also evaluate every N steps (default: per epoch; lesson 15 on test)"
    )
    p.add_argument(
        "--unroll-training",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the unrolled graph, faster on CPU; the saved model is the loop graph (default: on)",
    )
    p.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="XLA-compile the training step (default: off)",
    )
    p.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TensorFlow deterministic ops (default: on)",
    )
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="continue from <out>/checkpoints if made with the same options (default: on)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="smoke test: 2000 images, 1 epoch, into /tmp unless --out is given",
    )
    args = vars(p.parse_args(argv))
    recipe, dry = args.pop("recipe"), args.pop("dry_run")
    given = {k: v for k, v in args.items() if v is not None}
    if given.get("clipnorm") == 0:
        given["clipnorm"] = None
    if dry:
        given.setdefault("train_limit", 2000)
        given.setdefault("epochs", 1)
        given.setdefault("out_dir", "/tmp/digits-train-dry-run")
    if recipe == "lesson":
        return TrainOptions.lesson(**given)
    if recipe == "shipped":
        return TrainOptions.shipped(**given)
    if recipe == "teacher":
        return TrainOptions.teacher_recipe(**given)
    return dataclasses.replace(d, **given)


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_options(argv)
        options.check()
        from training.train import train  # TensorFlow: only once the options are valid

        print(
            f"training {options.label} ({options.recipe} recipe) -> {options.run_dir}",
            flush=True,
        )
        result = train(options, log=lambda msg: print(msg, flush=True))
    except (ValueError, FileNotFoundError, RuntimeError) as exc:  # MnistError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; run the same command again to resume from the last epoch checkpoint",
            file=sys.stderr,
        )
        return 130
    print("first 10 test images:")
    print("  predicted: " + " ".join(str(v) for v in result.predictions))
    print("  actual:    " + " ".join(str(v) for v in result.labels))
    print(
        f"test accuracy {result.test_accuracy:.4f}, {result.params} params, "
        f"{result.train_seconds:.1f} s training, {result.epochs} epochs / {result.steps} steps -> {result.run_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
