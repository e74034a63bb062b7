"""Reading and writing survey data: FITS cutouts and catalogues (:mod:`~sklearn_ssl.io.cutouts`),
collections larger than memory (:mod:`~sklearn_ssl.io.storage`), embedding on a Dask cluster
(:mod:`~sklearn_ssl.io.distributed`) and the command line's files (models, embeddings; ``_files``)."""

from ._files import (
    EMBEDDING_SUFFIXES, METRICS_SUFFIXES, MODEL_SUFFIXES, check_output_path, check_writable_dir, embedding_frame,
    impute_images, load_embeddings, load_model, parquet_engine, parse_bands, save_embeddings, save_model,
)
from .cutouts import load_cutouts, read_catalogue, save_cutouts
from .storage import IMAGE_SUFFIXES, convert_images, ids_path, load_images, open_images

__all__ = ["load_cutouts", "read_catalogue", "save_cutouts", "convert_images", "open_images", "ids_path", "load_images",
           "load_embeddings", "save_embeddings", "load_model", "save_model", "embedding_frame", "parse_bands",
           "impute_images", "check_output_path", "check_writable_dir", "parquet_engine", "IMAGE_SUFFIXES",
           "EMBEDDING_SUFFIXES", "MODEL_SUFFIXES", "METRICS_SUFFIXES"]
