"""Salted hashes that stand in for patient, study and series identifiers and source paths.

A `Pseudonymizer` turns an identifier into a short keyed hash (HMAC-SHA256 with a secret salt). The salt
of the decoded cache is random, made once per cache folder and kept there (readable by its owner only),
so the same patient gets the same pseudonym run after run on this machine, while a pseudonym cannot be
reversed by hashing guessed IDs without that file. Raw identifiers never leave memory.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SALT_NAME = "pseudonym.salt"
_SALT_BYTES = 32
_DIGEST_CHARS = 16


class Pseudonymizer:
    """`pseudonym(kind, value)`: a 16-hex-character keyed hash; the same inputs give the same output."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    @classmethod
    def ephemeral(cls) -> Pseudonymizer:
        """A pseudonymizer with a fresh random salt, for one process (a scan that writes nothing)."""
        return cls(secrets.token_bytes(_SALT_BYTES))

    @classmethod
    def for_folder(cls, folder: Path) -> Pseudonymizer:
        """The pseudonymizer whose salt lives in `folder` (created there on first use)."""
        return cls(_folder_salt(Path(folder)))

    @property
    def fingerprint(self) -> str:
        """A hash of the salt: changes when the salt does (so cached pseudonyms are not mixed)."""
        return hashlib.sha256(b"salt-fingerprint" + self._salt).hexdigest()[:_DIGEST_CHARS]

    def pseudonym(self, kind: str, value: str) -> str:
        # surrogateescape: a file name that is not valid UTF-8 (kept by Python as lone surrogates) hashes too
        digest = hmac.new(self._salt, f"{kind}\x1f{value}".encode("utf-8", "surrogateescape"),
                          hashlib.sha256).hexdigest()
        return digest[:_DIGEST_CHARS]


def _folder_salt(folder: Path) -> bytes:
    path = folder / SALT_NAME
    try:
        salt = path.read_bytes()
        if len(salt) == _SALT_BYTES:
            return salt
    except OSError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_bytes(_SALT_BYTES)
    temporary = folder / f".{SALT_NAME}.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(salt)
    try:
        os.link(temporary, path)  # atomic and never overwrites: the first process to create the salt wins
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes()
