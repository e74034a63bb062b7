from setuptools import find_packages, setup

setup(
    name="sklearn-ssl",
    version="0.1.0.dev0",
    description="Contrastive self-supervised learning for astronomical images as scikit-learn estimators",
    author="sklearn-ssl developers",
    license="BSD-3-Clause",  # SPDX expression (PEP 639); the text is in LICENSE
    license_files=["LICENSE"],
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["sklearn_ssl", "sklearn_ssl.*"]),
    python_requires=">=3.11",  # numpy 2.4, pandas 3.1, scipy 1.17, astropy 8.0, scikit-learn 1.9 need 3.11
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Astronomy",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    # lower bounds are the versions the test suite was run with (2026-11); older ones are untested
    install_requires=[
        "scikit-learn>=1.9",
        "torch>=2.13",
        "skorch>=1.4",
        "numpy>=2.4",
        "scipy>=1.17",
        "pandas>=3.1",
        "astropy>=8.0",
        "joblib>=1.6",
        "matplotlib>=3.11",
        "photutils>=3.0",  # GalaxyFeatures: segmentation, Kron photometry, flux radii
        "statmorph>=0.7",  # GalaxyFeatures: C, A, S, Gini, M20
        "tqdm>=4.60",  # progress bars (convert, embed on Dask); already a dependency of skorch
    ],
    extras_require={
        # accelerate: the multi-process training tests; dask: the distributed model-selection test;
        # sphinx/numpydoc/sphinx-gallery: the test that builds the docs with -W; scikit-activeml: label selection; bokeh/selenium: the explorer's page in
        # headless Chromium (the browser and its driver come from apt: see .ci/run)
        "test": ["pytest>=7", "hypothesis>=6", "accelerate>=1.0", "dask[distributed]>=2024.1",
                 "sphinx>=7", "numpydoc>=1.6", "h5py>=3.8", "pyarrow>=14", "bokeh>=3.9", "selenium>=4.51",
                 "faiss-cpu>=1.8", "scikit-activeml>=1.0", "sphinx-gallery>=0.17"],
        "docs": ["sphinx>=7", "numpydoc>=1.6", "sphinx-gallery>=0.17"],
        "distributed": ["accelerate>=1.0", "dask[distributed]>=2024.1"],
        "parquet": ["pyarrow>=14"],
        # HDF5 image collections read on demand (storage.open_images, fit/transform on h5py datasets)
        "hdf5": ["h5py>=3.8"],
        # approximate similarity search at survey scale (SimilaritySearch algorithm="hnsw"/"ivfpq", sklearn-ssl index)
        "search": ["faiss-cpu>=1.8"],
        # sklearn-ssl explore / sklearn_ssl.discovery.explore: the page (bokeh) and its UMAP map
        "explore": ["umap-learn>=0.5.12", "bokeh>=3.9"],
        # label_efficiency(selection=...) and discovery.select_labels: TypiClust, ProbCover, CoreSet, uncertainty
        "select": ["scikit-activeml>=1.0"],
    },
    entry_points={"console_scripts": ["sklearn-ssl=sklearn_ssl.cli:main"]},
)
