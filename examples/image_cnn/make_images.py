"""python -m examples.image_cnn.make_images OUT [--canvas 12] [--seed 0]: a folder of PNG digits to learn.

It writes what a lab's image folder looks like: one subfolder per class (0 to 9), one grayscale PNG
per picture. Each picture is one of scikit-learn's 1,797 handwritten 8x8 digits pasted at a seeded
random place on a blank canvas x canvas page, so the same stroke turns up anywhere: a CNN's
convolutions and pooling find it wherever it is, an MLP must learn each position apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.demo.samples import digit_pages, write_image_folder


def main(argv: list[str] | None = None) -> Path:
    """Write the folder (refusing one that already holds files) and return it."""
    parser = argparse.ArgumentParser(prog="python -m examples.image_cnn.make_images", description=__doc__)
    parser.add_argument("out", type=Path, help="the folder to create")
    parser.add_argument("--canvas", type=int, default=12, help="page side in pixels (8: the plain digits)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the digits' places")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty")
    pages, labels = digit_pages(args.canvas, args.seed)
    write_image_folder(args.out, pages, labels)
    print(f"{len(labels)} {args.canvas}x{args.canvas} PNGs in {args.out}/0 .. {args.out}/9")
    return args.out


if __name__ == "__main__":
    main()
