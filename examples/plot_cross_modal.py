"""
Images and spectra in one space: retrieval and zero-shot photometric redshifts
==============================================================================

AstroCLIP (Parker et al. 2024) aligned galaxy images with their spectra by contrastive
learning, CLIP-style, and predicted redshifts from images alone by looking up the
spectra-bearing neighbours of an image in the shared space ("zero-shot"). The same, offline,
on the synthetic survey: :func:`~sklearn_ssl.make_galaxy_survey` with ``spectra=True``
returns each galaxy's low-resolution model spectrum, :class:`~sklearn_ssl.CrossModalEmbedder`
aligns images and spectra (``fit(X, Y)``, as scikit-learn's CCA), then

- retrieval: for each held-out image, rank the held-out spectra by similarity; how often is
  its own spectrum first (top-1) or among the first five (top-5)?
- zero-shot photo-z: :class:`~sklearn.neighbors.KNeighborsRegressor` on the image embeddings
  of the training galaxies (whose redshifts come from their spectra) predicts the redshift of
  held-out galaxies from their images alone; compared with predicting the median redshift.

A quarter of the training images get no spectrum (a NaN row): they still train the image side.
"""

import argparse

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsRegressor

from sklearn_ssl import CrossModalEmbedder, make_galaxy_survey
from sklearn_ssl.evaluation.metrics import sigma_mad

parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("--n-samples", type=int, default=1500)
parser.add_argument("--image-size", type=int, default=24)
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--test-size", type=int, default=300)
args = parser.parse_args()

images, catalogue, spectra = make_galaxy_survey(args.n_samples, args.image_size, spectra=True, random_state=0)
z = catalogue["redshift"].to_numpy()
X_train, X_test, S_train, S_test, z_train, z_test = train_test_split(
    images, spectra, z, test_size=args.test_size, random_state=0)
S_train = S_train.copy()
S_train[: len(S_train) // 4] = np.nan  # images without a spectrum

model = CrossModalEmbedder(vector_encoder="cnn1d", max_epochs=args.epochs, batch_size=128, random_state=0)
model.fit(X_train, S_train)
print(f"learned temperature: {model.temperature_:.3f} ({model.n_pairs_} pairs, "
      f"{len(S_train) - model.n_pairs_} unpaired images)")

# %%
# Retrieval among the held-out galaxies: rank of each image's own spectrum.
Z_image, Z_spectrum = model.transform(X_test, S_test)
similarity = Z_image @ Z_spectrum.T
rank = (similarity > np.diag(similarity)[:, None]).sum(axis=1)
n = len(X_test)
print(f"image -> spectrum retrieval among {n}: top-1 {np.mean(rank < 1):.1%} (chance {1 / n:.1%}), "
      f"top-5 {np.mean(rank < 5):.1%} (chance {5 / n:.1%})")

# %%
# Zero-shot photo-z: neighbours in the shared space among the training images.
paired = ~np.isnan(S_train).any(axis=1)
knn = KNeighborsRegressor(n_neighbors=10, weights="distance").fit(model.transform(X_train[paired]), z_train[paired])
z_pred = knn.predict(Z_image)
median = np.full_like(z_test, np.median(z_train))
print(f"zero-shot photo-z sigma_MAD: {sigma_mad(z_test, z_pred):.4f} "
      f"(median-redshift predictor: {sigma_mad(z_test, median):.4f})")
