"""Bundle signatures: Ed25519 (asymmetric) for new bundles, HMAC-SHA256 still read for old ones.

With Ed25519 the machine that trains holds the private key and signs; every machine that
only verifies holds the public key, which cannot sign, so a verifier cannot forge a bundle.
Make a key pair with ``nirs keys generate [--out DIR]`` (:func:`generate_keys`): a private key
``signing.key`` (PEM, mode 0600) and a public key ``signing.pub`` (PEM).

The signing key, in this order: the ``key=`` argument (an ``Ed25519PrivateKey``, or bytes/text
for a legacy HMAC key); the file ``key_file=`` (``--key-file``: a PEM private key, or the text of
a legacy HMAC key); ``$NIRS_SIGNING_KEY_FILE``; the legacy ``$NIRS_BUNDLE_KEY`` and
``$NIRS_BUNDLE_KEY_FILE``; ``~/.config/nirs/signing.key``; ``~/.config/nirs/bundle.key``.

Checking an Ed25519 signature needs only a public key: ``public_key=`` (``--public-key``: a PEM
file), ``$NIRS_VERIFY_KEY_FILE``, the public half of a private key configured for signing as
above, ``~/.config/nirs/signing.pub``. An HMAC signature is checked with the HMAC key found as
for signing (:func:`resolve_hmac_key`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nirs_core.errors import BundleIntegrityError, ConfigError

__all__ = [
    "DEFAULT_KEY_FILE",
    "DEFAULT_SIGNING_KEY",
    "DEFAULT_VERIFY_KEY",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "SIGNING_KEY_FILE_ENV",
    "VERIFY_KEY_FILE_ENV",
    "Signer",
    "check_signature",
    "generate_keys",
    "key_id",
    "resolve_hmac_key",
    "resolve_signer",
]

KEY_ENV = "NIRS_BUNDLE_KEY"
KEY_FILE_ENV = "NIRS_BUNDLE_KEY_FILE"
SIGNING_KEY_FILE_ENV = "NIRS_SIGNING_KEY_FILE"
VERIFY_KEY_FILE_ENV = "NIRS_VERIFY_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/nirs/bundle.key")
DEFAULT_SIGNING_KEY = Path("~/.config/nirs/signing.key")
DEFAULT_VERIFY_KEY = Path("~/.config/nirs/signing.pub")
MIN_KEY_BYTES = 16
MAX_KEY_FILE_BYTES = 1 << 16
HMAC = "HMAC-SHA256"
ED25519 = "Ed25519"
_PEM = b"-----BEGIN"


def key_id(key: Any) -> str:
    """A short public fingerprint: of an HMAC key (reveals nothing of it) or of an Ed25519 key
    (the same for the private key and its public half)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if isinstance(key, ed25519.Ed25519PrivateKey):
        key = key.public_key()
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return hashlib.sha256(b"nirs-ed25519-key-id\0" + raw).hexdigest()[:16]
    return hashlib.sha256(b"nirs-bundle-key-id\0" + bytes(key)).hexdigest()[:16]


def _hmac_bytes(value: bytes | str, origin: str) -> bytes:
    key = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    key = key.strip()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"bundle key from {origin}: expected at least {MIN_KEY_BYTES} bytes; got {len(key)}."
        )
    return key


def _read_file(path: str | os.PathLike[str], origin: str) -> tuple[Path, bytes]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"bundle key file {p} (from {origin}): no such file.")
    if p.stat().st_size > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"bundle key file {p} (from {origin}): over {MAX_KEY_FILE_BYTES} bytes; not a key.")
    return p, p.read_bytes()


def _load_pem(data: bytes, where: str) -> Any:
    """An Ed25519 private or public key from PEM bytes."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    try:
        if b"PUBLIC KEY" in data.split(b"\n", 1)[0]:
            key = load_pem_public_key(data)
        else:
            key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: not a readable PEM key ({exc}).") from None
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        raise ConfigError(f"{where}: expected an Ed25519 key; got {type(key).__name__}.")
    return key


def resolve_hmac_key(
    key: Any = None, key_file: str | os.PathLike[str] | None = None
) -> tuple[bytes | None, str | None]:
    """``(HMAC key, where it came from)`` or ``(None, None)``: the legacy key sources."""
    if isinstance(key, (bytes, str)):
        return _hmac_bytes(key, "the key argument"), "the key argument"
    if key_file is not None:
        p, data = _read_file(key_file, "--key-file")
        if not data.lstrip().startswith(_PEM):
            return _hmac_bytes(data, f"--key-file {p}"), f"key file {key_file}"
    env = os.environ.get(KEY_ENV)
    if env:
        return _hmac_bytes(env, f"${KEY_ENV}"), f"${KEY_ENV}"
    env_file = os.environ.get(KEY_FILE_ENV)
    if env_file:
        p, data = _read_file(env_file, f"${KEY_FILE_ENV}")
        return _hmac_bytes(data, f"${KEY_FILE_ENV} {p}"), f"key file {env_file}"
    default = DEFAULT_KEY_FILE.expanduser()
    if default.is_file():
        p, data = _read_file(default, "the default key file")
        return _hmac_bytes(data, f"the default key file {p}"), f"key file {default}"
    return None, None


@dataclass(frozen=True)
class Signer:
    """A signing key: its algorithm, its public fingerprint and where it came from."""

    algorithm: str
    key: Any
    origin: str

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def sign(self, manifest: bytes) -> dict[str, str]:
        """The signature member's fields over the bytes of the manifest."""
        if self.algorithm == ED25519:
            return {"algorithm": ED25519, "key_id": self.key_id, "signature": self.key.sign(manifest).hex()}
        return {"algorithm": HMAC, "key_id": self.key_id, "mac": _mac(self.key, manifest)}


def _mac(key: bytes, manifest: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def _private_from_file(path: str | os.PathLike[str], origin: str) -> Signer | None:
    p, data = _read_file(path, origin)
    if not data.lstrip().startswith(_PEM):
        return None
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = _load_pem(data, f"bundle key file {p} (from {origin})")
    if isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(
            f"bundle key file {p} (from {origin}): a public key verifies but cannot sign; "
            "give the private key (signing.key from `nirs keys generate`)."
        )
    return Signer(ED25519, key, f"key file {p}")


def resolve_signer(key: Any = None, key_file: str | os.PathLike[str] | None = None) -> Signer | None:
    """The signing key, in the order of the module docstring; None when none is configured."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Signer(ED25519, key, "the key argument")
    if key is not None:
        return Signer(HMAC, _hmac_bytes(key, "the key argument"), "the key argument")
    if key_file is not None:
        signer = _private_from_file(key_file, "--key-file")
        if signer is not None:
            return signer
        p, data = _read_file(key_file, "--key-file")
        return Signer(HMAC, _hmac_bytes(data, f"--key-file {p}"), f"key file {key_file}")
    if os.environ.get(SIGNING_KEY_FILE_ENV):
        signer = _private_from_file(os.environ[SIGNING_KEY_FILE_ENV], f"${SIGNING_KEY_FILE_ENV}")
        if signer is None:
            raise ConfigError(
                f"${SIGNING_KEY_FILE_ENV}: expected a PEM Ed25519 private key file (`nirs keys generate`)."
            )
        return signer
    if not (os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV)):
        default = DEFAULT_SIGNING_KEY.expanduser()
        if default.is_file():
            return _private_from_file(default, "the default signing key")
    legacy, origin = resolve_hmac_key()
    return None if legacy is None else Signer(HMAC, legacy, origin or "")


def _public_key(
    public_key: Any, key: Any, key_file: str | os.PathLike[str] | None
) -> tuple[Any, str] | tuple[None, None]:
    """The Ed25519 public key to check with, and where it came from."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if isinstance(public_key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        found = public_key
        return (
            found.public_key() if isinstance(found, ed25519.Ed25519PrivateKey) else found
        ), "the key argument"
    candidates: list[tuple[str, Any]] = [
        ("--public-key", public_key),
        (f"${VERIFY_KEY_FILE_ENV}", os.environ.get(VERIFY_KEY_FILE_ENV)),
        ("--key-file", key_file),
        (f"${SIGNING_KEY_FILE_ENV}", os.environ.get(SIGNING_KEY_FILE_ENV)),
    ]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key(), "the key argument"
    for default in (DEFAULT_VERIFY_KEY, DEFAULT_SIGNING_KEY):
        if default.expanduser().is_file():
            candidates.append((f"the default key {default}", default))
    for origin, value in candidates:
        if not value:
            continue
        p, data = _read_file(value, origin)
        if not data.lstrip().startswith(_PEM):
            if origin == "--key-file":
                continue  # a legacy HMAC key given to check an old bundle
            raise ConfigError(f"{origin} {p}: expected a PEM Ed25519 key (from `nirs keys generate`).")
        found = _load_pem(data, f"{origin} {p}")
        if isinstance(found, ed25519.Ed25519PrivateKey):
            found = found.public_key()
        return found, f"key file {p}"
    return None, None


def check_signature(
    signature: Mapping[str, Any],
    manifest: bytes,
    where: str,
    *,
    key: Any = None,
    key_file: str | os.PathLike[str] | None = None,
    public_key: Any = None,
) -> tuple[str, str | None]:
    """``("valid", key id)`` when the signature matches the manifest, ``("unchecked", None)``
    when no key to check it is configured; :class:`BundleIntegrityError` when it does not match."""
    algorithm, signed_id = signature.get("algorithm"), signature.get("key_id")
    if algorithm == ED25519:
        value = signature.get("signature")
        if not isinstance(value, str) or len(value) != 128:
            raise BundleIntegrityError(
                f"{where}: the Ed25519 signature is malformed; expected 128 hex digits."
            )
        found, origin = _public_key(public_key, key, key_file)
        if found is None:
            return "unchecked", None
        from cryptography.exceptions import InvalidSignature

        try:
            found.verify(bytes.fromhex(value), manifest)
        except (InvalidSignature, ValueError):
            mine = key_id(found)
            hint = (
                f"it was signed with another key (key id {signed_id}; yours, from {origin}, is {mine})"
                if signed_id != mine
                else "the manifest was changed after signing"
            )
            raise BundleIntegrityError(
                f"{where}: the signature does not match the manifest: {hint}."
            ) from None
        return "valid", key_id(found)
    if algorithm == HMAC:
        mac = signature.get("mac")
        if not isinstance(mac, str):
            raise BundleIntegrityError(
                f"{where}: the HMAC signature is malformed; expected 'mac' as hex text."
            )
        legacy, origin = resolve_hmac_key(key, key_file)
        if legacy is None:
            return "unchecked", None
        if not hmac.compare_digest(_mac(legacy, manifest), mac):
            mine = key_id(legacy)
            hint = (
                f"it was signed with another key (key id {signed_id}; yours, from {origin}, is {mine})"
                if signed_id != mine
                else "the manifest was changed after signing"
            )
            raise BundleIntegrityError(f"{where}: the signature does not match the manifest: {hint}.")
        return "valid", key_id(legacy)
    raise BundleIntegrityError(
        f"{where}: signature algorithm {algorithm!r}; this version checks {ED25519!r} and {HMAC!r}."
    )


def generate_keys(out: str | os.PathLike[str], *, force: bool = False) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair into the folder ``out``: ``signing.key`` (private, PEM,
    mode 0600) and ``signing.pub`` (public, PEM). Existing keys are kept unless ``force``."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    from nirs_core.store._atomic import atomic_path, atomic_write_bytes

    folder = Path(out).expanduser()
    private_path, public_path = folder / "signing.key", folder / "signing.pub"
    existing = [p for p in (private_path, public_path) if p.exists()]
    if existing and not force:
        raise ConfigError(
            f"{existing[0]}: a key is already there; keeping it (bundles signed with it would no "
            "longer verify). Choose another --out folder, or pass --force to replace it."
        )
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(private_path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private)
    atomic_write_bytes(public_path, public)
    return private_path, public_path
