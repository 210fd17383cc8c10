"""Data for examples, benchmarks and the demo: generated locally, never downloaded implicitly.

:func:`jet_task` is the project's fixed benchmark task: the hls4ml jet-tagging topology's
input/output sizes (16 features, 5 classes) on data from ``make_classification`` with fixed
parameters, split 80/20 (train/test) and 20 % of train for validation. The real hls4ml jet
dataset (OpenML ``hls4ml_lhc_jets_hlf``) is available behind an explicit option: load a local
copy with :func:`load_jets_csv`, or download it on purpose with ``jet_task(source='openml')``.

Example:
    >>> task = jet_task(n_samples=2000)
    >>> task.x_train.shape[1], task.n_classes
    (16, 5)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._validation import check_choice, check_int, invalid

logger = logging.getLogger(__name__)

JET_CLASSES = ('g', 'q', 't', 'w', 'z')


@dataclass
class Task:
    """A classification task split into train / validation / test (float32 features, int labels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str = ''


def _split(x, y, n_classes, name, seed=0) -> Task:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    f = lambda a: scaler.transform(a).astype(np.float32)  # noqa: E731
    return Task(f(x_train), y_train.astype(np.int64), f(x_val), y_val.astype(np.int64), f(x_test),
                y_test.astype(np.int64), n_classes, name)


def jet_task(n_samples: int = 60000, source: str = 'synthetic', path: str | None = None) -> Task:
    """The benchmark task (16 features, 5 classes).

    Args:
        n_samples: samples generated (``source='synthetic'``).
        source: ``'synthetic'`` (``make_classification(n_samples, n_features=16, n_informative=12,
            n_redundant=2, n_classes=5, n_clusters_per_class=2, class_sep=0.8, random_state=0)``),
            ``'csv'`` (a local copy of the hls4ml jet dataset at ``path``, see :func:`load_jets_csv`)
            or ``'openml'`` (downloads ``hls4ml_lhc_jets_hlf`` through scikit-learn: needs network).
        path: the CSV file for ``source='csv'``.
    """
    source = check_choice('source', source, ('synthetic', 'csv', 'openml'))
    if source == 'synthetic':
        from sklearn.datasets import make_classification
        n_samples = check_int('n_samples', n_samples, 100)
        x, y = make_classification(n_samples=n_samples, n_features=16, n_informative=12, n_redundant=2, n_classes=5,
                                   n_clusters_per_class=2, class_sep=0.8, random_state=0)
        return _split(x, y, 5, 'synthetic-jets')
    if source == 'csv':
        if path is None:
            raise invalid('path', path, "a CSV file for source='csv'")
        x, y = load_jets_csv(path)
        return _split(x, y, len(JET_CLASSES), 'hls4ml-jets')
    from sklearn.datasets import fetch_openml  # explicit opt-in: this downloads
    logger.info('Downloading hls4ml_lhc_jets_hlf from OpenML (source="openml").')
    data = fetch_openml('hls4ml_lhc_jets_hlf', as_frame=False, parser='liac-arff')
    y = np.searchsorted(JET_CLASSES, np.asarray(data.target).astype(str))
    return _split(np.asarray(data.data, dtype=np.float64), y, len(JET_CLASSES), 'hls4ml-jets')


def load_jets_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a local copy of the hls4ml jet dataset: 16 feature columns and a ``class`` column.

    The class column holds the labels ``g, q, t, w, z`` (as OpenML stores them) or integers 0-4.
    """
    import csv
    import os
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise invalid('path', path, 'the path of an existing CSV file', FileNotFoundError)
    with open(path, newline='') as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = [row for row in reader if row]
    if 'class' not in header:
        raise invalid('path', path, "a CSV file with a header and a 'class' column")
    label = header.index('class')
    features = [i for i in range(len(header)) if i != label]
    if len(features) != 16:
        raise invalid('path', path, f'16 feature columns besides class, found {len(features)}')
    x = np.array([[float(r[i]) for i in features] for r in rows])
    raw = [r[label].strip() for r in rows]
    if all(v in JET_CLASSES for v in raw):
        y = np.array([JET_CLASSES.index(v) for v in raw])
    else:
        try:
            y = np.array([int(v) for v in raw])
        except ValueError:
            raise invalid('path', path, 'class labels g/q/t/w/z or integers') from None
    return x, y


def digits_task() -> Task:
    """``sklearn.datasets.load_digits`` (8x8x1 images, 10 classes), shipped with scikit-learn."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=0)
    return Task(x_train, y_train, x_val, y_val, x_test, y_test, 10, 'digits')


__all__ = ['JET_CLASSES', 'Task', 'digits_task', 'jet_task', 'load_jets_csv']
