"""Peak memory of ``sklearn-ssl pretrain --encoder resnet18`` on 64-px cutouts, by batch size (CPU).

Each batch size runs in a fresh process: one pretraining epoch of SimCLR on ``n = batch size``
random 3-band 64x64 images (one optimiser step over two views of each image), and the process's
peak resident memory (``ru_maxrss``) is recorded. Memory grows linearly with the batch (the
activations of the two views are kept for the backward pass), so the per-image slope from two
batch sizes extrapolates to others; the intercept is the interpreter, torch and the weights.

    python benchmarks/resnet18_memory.py --batch-sizes 8 16 --out benchmarks/results/resnet18_memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import resource, sys, time
import numpy as np
from sklearn_ssl import ContrastiveEmbedder
b = int(sys.argv[1])
x = np.random.default_rng(0).normal(size=(b, 3, 64, 64)).astype("float32")
t = time.perf_counter()
ContrastiveEmbedder(encoder="resnet18", max_epochs=1, batch_size=b, device="cpu", random_state=0).fit(x)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--out", help="JSON file for the measurements")
    args = parser.parse_args(argv)
    rows = []
    for b in args.batch_sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, str(b)], capture_output=True, text=True, check=True)
        peak_mib, seconds = map(float, out.stdout.split()[-2:])
        rows.append({"batch_size": b, "peak_rss_mib": round(peak_mib, 1), "fit_s": round(seconds, 1)})
        print(rows[-1], flush=True)
    (b0, m0), (b1, m1) = [(r["batch_size"], r["peak_rss_mib"]) for r in (rows[0], rows[-1])]
    slope = (m1 - m0) / (b1 - b0)
    result = {"rows": rows, "mib_per_image": round(slope, 1), "intercept_mib": round(m0 - slope * b0, 1),
              "extrapolated_mib": {str(b): round(m0 + slope * (b - b0)) for b in (32, 64, 128, 256)},
              "machine": "shared 2-core CPU (about 8 agents), torch CPU build", "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
