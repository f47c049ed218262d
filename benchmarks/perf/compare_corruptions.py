"""robustkit's common corruptions against the ``imagecorruptions`` package: speed and agreement.

Run: ``python benchmarks/perf/compare_corruptions.py [--reference-python PATH] [--images N] [--check N]
[--size S] [--pixels] [--batches B ...]``.

PATH is a Python interpreter with ``imagecorruptions`` (the ``compare`` extra; it brings
scikit-image, OpenCV and SciPy, which robustkit does not need): by default this one. Another
environment can hold an older NumPy, under which its fog still runs (it fails on NumPy 2); on
scikit-image 0.19 and later, whose ``gaussian`` no longer takes ``multichannel``, the worker passes
it on as ``channel_axis=-1``. Both sides use ImageNet's constants (robustkit's ``constants="large"``), on
the same ``N`` SxS RGB images (smooth random images, 8-bit; S = 32 by default, 224 for ImageNet's
size). The reference runs in a worker process that corrupts one image at a time, as it is written
to; robustkit corrupts batches of each size B (default 1000 at 32x32; 1, 4, 16 and 64 are ImageNet's
cases), given as [0, 1] floats or, with ``--pixels``, as [0, 255] float32 pixels
(``bounds=(0, 255)``). For every corruption and severity the two are timed in turn, never at once
(rounds interleaved), robustkit's graph already built for the image shape (its one-off build time is
reported apart). On the first ``--check`` images the outputs are compared: deterministic corruptions
pixel by pixel (the largest difference in 8-bit steps, and the share of values within 2), random ones
by the mean and spread of each image's PSNR against the clean image.
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
    import skimage.filters

    gaussian = skimage.filters.gaussian

    def gaussian_any_version(image, *args, multichannel=None, **kwargs):
        if multichannel:  # removed from scikit-image 0.19 on: the same filter, per channel
            kwargs["channel_axis"] = -1
        return gaussian(image, *args, **kwargs)

    skimage.filters.gaussian = gaussian_any_version  # before imagecorruptions imports it
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


def smooth_images(n: int, seed: int = 0, size: int = 32):
    """``n`` SxSx3 8-bit images: random 8x8 colour fields upsampled bilinearly, plus fine noise."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, (n, 8, 8, 3)).astype(np.float32)
    fine = tf.image.resize(coarse, (size, size), "bilinear").numpy() + rng.normal(0, 0.03, (n, size, size, 3))
    return (np.clip(fine, 0, 1) * 255).round().astype(np.uint8)


def time_ours(images, name: str, severity: int, batch: int, pixels: bool):
    """robustkit's time per image on batches of ``batch`` images (the images repeated to fill one), its
    graph for that batch shape built first, and the corrupted first images as 8-bit values."""
    import numpy as np

    from robustkit.corruptions import corrupt

    scale, bounds = (1.0, (0.0, 255.0)) if pixels else (1.0 / 255.0, (0.0, 1.0))
    filled = np.resize(images, (max(batch, 1), *images.shape[1:])).astype(np.float32) * np.float32(scale)
    calls = max(1, min(len(images), 4) // batch)  # a few single images, or one full batch
    corrupt(filled[:batch], name, severity, constants="large", bounds=bounds, batch_size=batch)  # builds its graph
    started = time.perf_counter()
    for _ in range(calls):
        out = corrupt(filled[:batch], name, severity, constants="large", bounds=bounds, batch_size=batch)
    seconds = (time.perf_counter() - started) / (calls * batch)
    return seconds, (out / np.float32(scale)).round()


def psnr(clean, corrupted):
    import numpy as np

    mse = ((clean.astype(float) - corrupted.astype(float)) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def compare(args: argparse.Namespace) -> None:
    import numpy as np

    from robustkit.corruptions import CORRUPTIONS, corrupt

    images = smooth_images(args.images, size=args.size)
    folder = tempfile.mkdtemp()
    np.save(f"{folder}/images.npy", images)
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
            corrupt(images[:1].astype(np.float32) / 255.0, name, severity, constants="large")  # the graph, once
            row = {"corruption": name, "severity": severity, "build_s": time.perf_counter() - started,
                   "random": corruption.random, "ours_ms": {}}  # fmt: skip
            for batch in args.batches:
                seconds, ours = time_ours(images, name, severity, batch, args.pixels)
                row["ours_ms"][batch] = 1000 * seconds
            if "error" in answer:
                row["reference"] = answer["error"]
            else:
                theirs = np.load(f"{folder}/ref.npy")
                mine = ours[: args.check]
                row["ref_ms"] = 1000 * answer["seconds"] / len(images)
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
    """Per corruption: time per image (robustkit at each batch size, the reference), the speed-up at
    each batch size, and agreement over the five severities."""
    import numpy as np

    batches = list(rows[0]["ours_ms"])
    ours_heads = " | ".join(f"robustkit ms/image, batch {b}" for b in batches)
    speed_heads = " | ".join(f"speed-up, batch {b}" for b in batches)
    print(f"| corruption | imagecorruptions ms/image | {ours_heads} | {speed_heads} | agreement |")
    print("|---|" + "---:|" * (1 + 2 * len(batches)) + "---|")
    ours_total = dict.fromkeys(batches, 0.0)
    ref_total = 0.0
    for name in dict.fromkeys(r["corruption"] for r in rows):
        mine = [r for r in rows if r["corruption"] == name]
        ours = {b: float(np.mean([r["ours_ms"][b] for r in mine])) for b in batches}
        times = " | ".join(f"{ours[b]:.2f}" for b in batches)
        if "ref_ms" not in mine[0]:
            print(f"| {name} | fails: {mine[0]['reference']} | {times} |" + " |" * len(batches) + " |")
            continue
        ref = float(np.mean([r["ref_ms"] for r in mine]))
        ref_total += ref
        for b in batches:
            ours_total[b] += ours[b]
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
        speeds = " | ".join(f"{ref / ours[b]:.1f}x" for b in batches)
        print(f"| {name} | {ref:.2f} | {times} | {speeds} | {agreement} |")
    totals = " | ".join(f"{ours_total[b]:.2f}" for b in batches)
    speeds = " | ".join(f"{ref_total / ours_total[b]:.1f}x" for b in batches)
    print(f"| total (both run) | {ref_total:.2f} | {totals} | {speeds} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default=sys.executable, help="an interpreter with imagecorruptions")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--check", type=int, default=200, help="images whose outputs are compared")
    parser.add_argument("--out", default="corruption_comparison.json")
    parser.add_argument("--corruptions", nargs="+", help="compare only these (default: every one)")
    parser.add_argument("--size", type=int, default=32, help="the images' side in pixels (224: ImageNet's)")
    parser.add_argument("--pixels", action="store_true", help="give robustkit [0, 255] float32 pixels")
    parser.add_argument("--batches", type=int, nargs="+", default=[1000], help="robustkit's batch sizes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
    else:
        compare(args)


if __name__ == "__main__":
    main()
