"""Consortium secret key: keyed feature permutation and keyed scaffold folds (HMAC-SHA256).

Every partner holds the same secret key, so their prepared features line up column for column and a
scaffold lands in the same fold everywhere; the coordinator, which never gets the key, cannot map the
trunk's first-layer weights back to substructures.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

import numpy as np

from fedadmet.exceptions import InputError

KEY_BYTES = 32
KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")  # what key_id() returns


def generate_key() -> str:
    """A fresh consortium key as hex, to be handed to partners out of band."""
    return secrets.token_hex(KEY_BYTES)


def read_key(path: Path) -> bytes:
    """The key from a file holding its hex form; a wrong length or format says so."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"consortium key file not found: {path}")
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{path.name} is not a hex key", expected=f"{2 * KEY_BYTES} hex characters") from None
    if len(key) != KEY_BYTES:
        raise InputError(f"{path.name} holds a {len(key)}-byte key", expected=f"{KEY_BYTES} bytes")
    return key


def _mac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """Short public identifier of a key: partners compare it without revealing the key."""
    return _mac(key, "fedadmet:key-id").hex()[:16]


def feature_permutation(key: bytes, n_features: int) -> np.ndarray:
    """Column order of the prepared features: columns sorted by their keyed MAC."""
    tags = [_mac(key, f"fedadmet:feature:{i}") for i in range(n_features)]
    return np.array(sorted(range(n_features), key=tags.__getitem__), dtype=np.int64)


def keyed_fold(key: bytes, scaffold: str, n_folds: int) -> int:
    """Fold of a scaffold, the same at every partner that holds the key."""
    return int.from_bytes(_mac(key, f"fedadmet:fold:{scaffold}")[:8], "big") % n_folds
