"""robustkit's common corruptions against the ``imagecorruptions`` package: speed and agreement.

Run: ``python benchmarks/perf/compare_corruptions.py [--reference-python PATH] [--images N] [--check N]``.

PATH is a Python interpreter with ``imagecorruptions`` (the ``compare`` extra; it brings
scikit-image, OpenCV and SciPy, which robustkit does not need): by default this one. Another
environment can hold an older NumPy, under which its fog still runs (it fails on NumPy 2). Both sides
use ImageNet's constants (robustkit's ``constants="large"``), on the same ``N`` 32x32x3 images
(smooth random images, 8-bit). The reference runs in a worker process that corrupts one image at a
time, as it is written to; robustkit corrupts the batch. For every corruption and severity the two
are timed in turn, never at once (rounds interleaved), robustkit's graph already built for the batch's shape (its
one-off build time is reported apart). On the first ``--check`` images the outputs are compared:
deterministic corruptions pixel by pixel (the largest difference in 8-bit steps, and the share of
values within 2), random ones by the mean and spread of each image's PSNR against the clean image.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SEVERITIES = (1, 2, 3, 4, 5)


def worker() -> None:
    """In the reference environment: corrupt images on request, one at a time, and time it."""
    import warnings

    import numpy as np
    from imagecorruptions import corrupt

    warnings.filterwarnings("ignore")
    for line in sys.stdin:
        job = json.loads(line)
        images = np.load(job["images"])
        try:
            out = np.empty_like(images)
            corrupt(images[0], corruption_name=job["name"], severity=job["severity"])  # reads any files once
            started = time.perf_counter()
            for i, image in enumerate(images):
                out[i] = np.asarray(corrupt(image, corruption_name=job["name"], severity=job["severity"]), np.uint8)
            answer = {"seconds": time.perf_counter() - started}
            np.save(job["out"], out[: job["keep"]])
        except Exception as error:  # a corruption that no longer runs on this stack
            answer = {"error": f"{type(error).__name__}: {str(error)[:90]}"}
        print(json.dumps(answer), flush=True)


def smooth_images(n: int, seed: int = 0):
    """``n`` 32x32x3 8-bit images: random 8x8 colour fields upsampled bilinearly, plus fine noise."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, (n, 8, 8, 3)).astype(np.float32)
    fine = tf.image.resize(coarse, (32, 32), "bilinear").numpy() + rng.normal(0, 0.03, (n, 32, 32, 3))
    return (np.clip(fine, 0, 1) * 255).round().astype(np.uint8)


def psnr(clean, corrupted):
    import numpy as np

    mse = ((clean.astype(float) - corrupted.astype(float)) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def compare(args: argparse.Namespace) -> None:
    import numpy as np

    from robustkit.corruptions import CORRUPTIONS, corrupt

    images = smooth_images(args.images)
    folder = tempfile.mkdtemp()
    np.save(f"{folder}/images.npy", images)
    unit = images.astype(np.float32) / 255.0
    reference = subprocess.Popen(
        [args.reference_python, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    rows = []
    for name, corruption in CORRUPTIONS.items():
        if args.corruptions and name not in args.corruptions:
            continue
        for severity in SEVERITIES:
            job = {"name": name, "severity": severity, "images": f"{folder}/images.npy",
                   "out": f"{folder}/ref.npy", "keep": args.check}  # fmt: skip
            reference.stdin.write(json.dumps(job) + "\n")
            reference.stdin.flush()
            answer = json.loads(reference.stdout.readline())  # the reference alone on the machine, then ours
            started = time.perf_counter()
            ours = corrupt(unit, name, severity, constants="large")
            build = time.perf_counter() - started
            started = time.perf_counter()
            ours = corrupt(unit, name, severity, constants="large")
            seconds = time.perf_counter() - started
            row = {"corruption": name, "severity": severity, "ours_ms": 1000 * seconds / len(unit),
                   "build_s": build - seconds, "random": corruption.random}  # fmt: skip
            if "error" in answer:
                row["reference"] = answer["error"]
            else:
                theirs = np.load(f"{folder}/ref.npy")
                mine = (ours[: args.check] * 255.0).round()
                row["ref_ms"] = 1000 * answer["seconds"] / len(unit)
                row["max_steps"] = float(np.abs(mine - theirs).max())
                row["within_2"] = float((np.abs(mine - theirs) <= 2).mean())
                # Spatter draws no drop on a few images: robustkit leaves them clean, imagecorruptions
                # divides by zero and returns them black. Both are counted apart from the PSNRs.
                clean = (mine == images[: args.check]).reshape(len(mine), -1).all(axis=1)
                black = (theirs == 0).reshape(len(theirs), -1).all(axis=1)
                row["clean_ours"], row["black_ref"] = int(clean.sum()), int(black.sum())
                row["psnr_ours"] = psnr(images[: args.check][~clean], mine[~clean]).tolist()
                row["psnr_ref"] = psnr(images[: args.check][~black], theirs[~black]).tolist()
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if not k.startswith("psnr")}), flush=True)
    reference.stdin.close()
    with open(args.out, "w") as handle:
        json.dump(rows, handle)
    summarise(rows)


def summarise(rows: list[dict]) -> None:
    """Per corruption: time per image (both), speed-up, and agreement over the five severities."""
    import numpy as np

    print("| corruption | robustkit ms/image | imagecorruptions ms/image | speed-up | agreement |")
    print("|---|---:|---:|---:|---|")
    ours_total = ref_total = 0.0
    for name in dict.fromkeys(r["corruption"] for r in rows):
        mine = [r for r in rows if r["corruption"] == name]
        ours = float(np.mean([r["ours_ms"] for r in mine]))
        if "ref_ms" not in mine[0]:
            print(f"| {name} | {ours:.3f} | fails: {mine[0]['reference']} | | |")
            continue
        ref = float(np.mean([r["ref_ms"] for r in mine]))
        ours_total, ref_total = ours_total + ours, ref_total + ref
        if mine[0]["random"]:
            gaps = [abs(np.mean(r["psnr_ours"]) - np.mean(r["psnr_ref"])) for r in mine]
            spreads = [abs(np.std(r["psnr_ours"]) - np.std(r["psnr_ref"])) for r in mine]
            agreement = f"PSNR mean within {max(gaps):.2f} dB, spread within {max(spreads):.2f} dB"
            if any(r.get("clean_ours") or r.get("black_ref") for r in mine):
                agreement += (f" (images left clean: {sum(r['clean_ours'] for r in mine)}; "
                              f"turned black by the reference: {sum(r['black_ref'] for r in mine)})")  # fmt: skip
        else:
            agreement = (f"max {max(r['max_steps'] for r in mine):.0f} steps of 1/255, "
                         f"{100 * min(r['within_2'] for r in mine):.1f}% within 2")  # fmt: skip
        print(f"| {name} | {ours:.3f} | {ref:.3f} | {ref / ours:.1f}x | {agreement} |")
    print(f"| total (both run) | {ours_total:.3f} | {ref_total:.3f} | {ref_total / ours_total:.1f}x | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default=sys.executable, help="an interpreter with imagecorruptions")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--check", type=int, default=200, help="images whose outputs are compared")
    parser.add_argument("--out", default="corruption_comparison.json")
    parser.add_argument("--corruptions", nargs="+", help="compare only these (default: every one)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
    else:
        compare(args)


if __name__ == "__main__":
    main()
