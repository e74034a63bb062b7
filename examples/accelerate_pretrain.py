"""
Multi-GPU pretraining with accelerate
=====================================

Launch one process per GPU; each trains on its share of every epoch, negatives are
gathered across processes, and gradients are averaged, so the result matches one
process on the global batch::

    accelerate launch --num_processes 4 examples/accelerate_pretrain.py --out emb.joblib

Without GPUs, two CPU processes show the same mechanics (gloo backend)::

    torchrun --nproc_per_node 2 examples/accelerate_pretrain.py --cpu --n-samples 256 --epochs 2

``--images survey.npy`` (or ``.h5``) trains on a collection on disk instead of the synthetic
survey: every process opens it memory-mapped and reads only its share of each epoch. For
several nodes under SLURM, see the "Scaling" page of the docs.
"""

import argparse

from accelerate import Accelerator

from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.datasets import make_galaxy_survey

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--n-samples", type=int, default=2048)
parser.add_argument("--image-size", type=int, default=32)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=128, help="per process")
parser.add_argument("--method", default="simclr", choices=["simclr", "moco"])
parser.add_argument("--images", default=None, help=".npy or HDF5 images on disk (default: a synthetic survey)")
parser.add_argument("--cpu", action="store_true", help="use CPU processes instead of GPUs")
parser.add_argument("--out", default=None, help="save the fitted embedder here (main process)")
parser.add_argument("--embeddings", default=None, help="save this process's embeddings as .npy (for checks)")
args = parser.parse_args()

accelerator = Accelerator(cpu=args.cpu, mixed_precision="no" if args.cpu else "bf16")
if args.images:
    from sklearn_ssl.io.storage import open_images

    images, _ = open_images(args.images)
else:
    images, catalogue = make_galaxy_survey(args.n_samples, image_size=args.image_size, random_state=0)
embedder = ContrastiveEmbedder(
    method=args.method, max_epochs=args.epochs, batch_size=args.batch_size,
    accelerator=accelerator, random_state=0, verbose=1,
).fit(images)

embeddings = embedder.transform(images[:64])
accelerator.print(f"{accelerator.num_processes} processes; embeddings {embeddings.shape}")
if args.embeddings:
    import numpy as np

    np.save(f"{args.embeddings}.rank{accelerator.process_index}.npy", embeddings)
if args.out and accelerator.is_main_process:
    embedder.save(args.out)
