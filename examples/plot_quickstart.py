"""
Quickstart: a contrastive embedder in a scikit-learn Pipeline
=============================================================

Pretrain a :class:`~sklearn_ssl.ContrastiveEmbedder` on unlabelled images of the built-in
synthetic survey, freeze it, and cross-validate a logistic regression on its embeddings
for the galaxies' morphology. Small sizes: well under a minute on 2 CPU cores.
"""

from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.datasets import make_galaxy_survey
from sklearn_ssl.nn.encoders import SmallCNN

# %%
# Images (n, 5 bands, 24, 24) in nanomaggies and a catalogue with morphology and redshift.
images, catalogue = make_galaxy_survey(400, image_size=24, random_state=0)
print(images.shape, catalogue["morphology"].value_counts().to_dict())

# %%
# Pretrain once on all images, without labels (a small encoder so that it runs on a CPU).
embedder = ContrastiveEmbedder(encoder=SmallCNN(in_channels=5, width=8), max_epochs=5, batch_size=100,
                               random_state=0).fit(images)
print("final contrastive loss:", round(embedder.net_.history[-1, "train_loss"], 3))

# %%
# FrozenEstimator: cross-validation refits only the logistic regression.
model = make_pipeline(FrozenEstimator(embedder), StandardScaler(), LogisticRegression(max_iter=2000))
scores = cross_val_score(model, images, catalogue["morphology"], cv=5)
print(f"morphology accuracy, 5-fold CV: {scores.mean():.3f} +- {scores.std():.3f} "
      f"(majority class: {catalogue['morphology'].value_counts(normalize=True).max():.3f})")
