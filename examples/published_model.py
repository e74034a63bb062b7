"""
Use a published self-supervised model, then adapt it to your survey
=====================================================================

Hayat et al. (2021) and Stein et al. (2022) released MoCo v2 ResNets pretrained on millions
of SDSS and DESI Legacy Survey galaxies. :meth:`ContrastiveEmbedder.from_checkpoint
<sklearn_ssl.ContrastiveEmbedder.from_checkpoint>` turns such a file into a *fitted*
scikit-learn transformer; ``fit`` on your own images then continues the contrastive
pretraining from the published weights (domain adaptation).

So that it runs offline, this example first writes a stand-in checkpoint **with random
weights** in the layout of Hayat et al.'s ``pretrained_paper_model.pth.tar`` (a MoCo v2
model saved under DistributedDataParallel: ``module.encoder_q.*`` / ``module.encoder_k.*``,
MLP head in ``fc``, 5 bands, stride-1 stem without max-pool), with a ResNet-18 instead of
their ResNet-50 to keep it fast. With the real file, only the path changes. The scores
printed here describe random weights, not the published model.
"""

import argparse
import os
import tempfile

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ssl import ContrastiveEmbedder, make_galaxy_survey
from sklearn_ssl.nn.encoders import ResNet

parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("--n-samples", type=int, default=300)
parser.add_argument("--image-size", type=int, default=32)
parser.add_argument("--epochs", type=int, default=2, help="epochs of continued pretraining")
parser.add_argument("--checkpoint", default=None, help="where to write the stand-in (default: a temporary folder)")
args = parser.parse_args()

# %%
# A stand-in for the published file, saved as the authors' code saves it
# -----------------------------------------------------------------------
# Query and key encoders are torchvision-named ResNets; the MoCo v2 head is
# ``fc = Sequential(Linear(d, d), ReLU(), Linear(d, 128))``; DDP prefixes every key with ``module.``.
torch.manual_seed(0)
path = args.checkpoint or os.path.join(tempfile.mkdtemp(), "pretrained_paper_model.pth.tar")
encoder_q = ResNet(18, in_channels=5, stem="astro").state_dict()
head = {"fc.0.weight": torch.randn(512, 512) / 512**0.5, "fc.0.bias": torch.zeros(512),
        "fc.2.weight": torch.randn(128, 512) / 512**0.5, "fc.2.bias": torch.zeros(128)}
state = {}
for name, weights in (("encoder_q", {**encoder_q, **head}), ("encoder_k", {**encoder_q, **head})):
    state.update({f"module.{name}.{k}": v.clone() for k, v in weights.items()})
state["module.queue"] = torch.nn.functional.normalize(torch.randn(128, 1024), dim=0)
state["module.queue_ptr"] = torch.zeros(1, dtype=torch.long)
torch.save({"epoch": 101, "arch": "resnet18", "state_dict": state}, path)

# %%
# The published model as a fitted transformer
# -------------------------------------------
# ``from_checkpoint`` recognises the layout, reads the file with ``weights_only=True`` and
# records where the weights came from and what input the authors fed their model.
size = args.image_size
images, catalogue = make_galaxy_survey(args.n_samples, image_size=size, random_state=0)  # u, g, r, i, z
published = ContrastiveEmbedder.from_checkpoint(path, input_shape=(5, size, size), batch_size=64)
print("layout:", published.init_source_["layout"], "| architecture:", published.init_source_["architecture"],
      "| sha256:", published.init_source_["sha256"][:12])
print("expected input:", published.expected_input_["normalisation"])

# The authors fed de-reddened fluxes without scaling (``normalize=None`` here): bring your
# images to the same scale. The synthetic survey is in nanomaggies; an arcsinh stretch keeps
# this stand-in's activations in range.
X = np.arcsinh(images / 0.1).astype(np.float32)
y = catalogue["morphology"].to_numpy()


def score(embedder):
    model = make_pipeline(FrozenEstimator(embedder), StandardScaler(), LogisticRegression(max_iter=2000))
    return cross_val_score(model, X, y, cv=3).mean()


print(f"frozen published encoder + logistic regression: accuracy {score(published):.3f}")

# %%
# Continued pretraining on your own survey
# ----------------------------------------
# ``fit`` starts from the published query encoder, key encoder and MoCo head, and trains
# ``max_epochs`` more epochs of MoCo v2 on your images with your augmentations.
adapted = ContrastiveEmbedder.from_checkpoint(path, input_shape=(5, size, size))
adapted.set_params(max_epochs=args.epochs, batch_size=64, queue_size=256, lr=1e-4, random_state=0).fit(X)
start = torch.load(path, weights_only=True)["state_dict"]["module.encoder_q.conv1.weight"]
moved = (adapted.encoder_.conv1.weight.detach() - start).norm() / start.norm()
print(f"continued pretraining: {len(adapted.net_.history)} epochs, final loss "
      f"{adapted.net_.history[-1, 'train_loss']:.3f}, first-layer weights moved {moved:.1%} from the checkpoint")
print(f"frozen adapted encoder + logistic regression: accuracy {score(adapted):.3f}")
