"""Data for gridnn: datasets, a seeded DataLoader, batch transforms and dataset sources.

    from gridnn.data import DataLoader, load_dataset, RandomCrop
    data = load_dataset("digits")                      # .train/.test ArrayDataset, .mean, .std
    loader = DataLoader(data.train, 64, shuffle=True, seed=0)
    for epoch in range(3):
        loader.set_epoch(epoch)                        # order and augmentation = f(seed, epoch)
        for xb, yb in loader:                          # float32 (B, 1, 8, 8), int64 (B,)
            ...
"""

from .cifar import RestrictedUnpickler, read_cifar_batch, read_pickle
from .dataset import ArrayDataset, Dataset, DatasetBundle, make_bundle, stratified_split
from .idx import read_idx
from .images import image_header, load_image, load_image_bytes, load_image_folder
from .loader import DataLoader
from .sources import (
    DATASETS,
    available_datasets,
    cache_dir,
    candidate_dirs,
    dataset_key,
    generate_mnist1d,
    load_cifar10,
    load_dataset,
    load_digits,
    load_mnist1d,
)
from .transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomShift,
    ToFloat,
)

__all__ = [
    "DATASETS", "ArrayDataset", "Compose", "DataLoader", "Dataset", "DatasetBundle", "Normalize",
    "RandomCrop", "RandomHorizontalFlip", "RandomShift", "RestrictedUnpickler", "ToFloat",
    "available_datasets", "cache_dir", "candidate_dirs", "dataset_key", "generate_mnist1d",
    "image_header", "load_cifar10", "load_dataset", "load_digits", "load_image",
    "load_image_bytes", "load_image_folder", "load_mnist1d",
    "make_bundle", "read_cifar_batch", "read_idx", "read_pickle", "stratified_split",
]
