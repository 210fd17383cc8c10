"""Saving and loading a pruning run's state (masks, keep flags, step counts, baseline, history).

The state is a dict of JSON-native values plus three lists of numpy arrays (``masks``,
``keeps``, ``dead_inputs``, one per pruned kernel); it is written as one ``.npz`` file,
atomically, so an interrupted run can resume from the last complete epoch.

Example:
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'state.npz')
    >>> save_state(path, {'layers': ['fc'], 'masks': [np.ones((2, 2))], 'keeps': [np.ones(4, bool)],
    ...                   'dead_inputs': [np.zeros(2, bool)], 'pruning_steps': 3})
    >>> load_state(path)['pruning_steps']
    3
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any, Mapping

import numpy as np

from ._validation import invalid

ARRAY_LISTS = ('masks', 'keeps', 'dead_inputs')
_PREFIX = {'masks': 'mask', 'keeps': 'keep', 'dead_inputs': 'dead'}


def _native(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def save_state(path, state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` (numpy ``.npz``), atomically.

    Raises:
        ValueError: ``path`` names a directory or cannot be written.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise invalid('state_path', path, 'a file path (it names a directory)')
    n = len(state['layers'])
    arrays = {}
    for key in ARRAY_LISTS:
        for i, array in enumerate(state.get(key) or []):
            arrays[f'{_PREFIX[key]}_{i}'] = np.asarray(array)
    meta = {k: _native(v) for k, v in state.items() if k not in ARRAY_LISTS}
    meta['n_layers'] = n
    directory = os.path.dirname(os.path.abspath(path))
    tmp = path + '.tmp.npz'
    try:
        os.makedirs(directory, exist_ok=True)
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    except OSError as e:
        raise invalid('state_path', path, f'a writable file path ({e.strerror or e})') from None


def load_state(path) -> dict[str, Any]:
    """Read a state written by :func:`save_state`.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a hwprune state (corrupt, or written by something else).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise invalid('state_path', path, 'an existing state file', FileNotFoundError)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data['meta']))
            n = int(meta.get('n_layers', len(meta['layers'])))
            for key in ARRAY_LISTS:
                prefix = _PREFIX[key]
                meta[key] = [data[f'{prefix}_{i}'] for i in range(n)] if f'{prefix}_0' in data else None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise invalid('state_path', path, f'a state file written by hwprune ({type(e).__name__}: {e})') from None
    return meta


__all__ = ['ARRAY_LISTS', 'load_state', 'save_state']
