"""Signed, chained manifests.

The export's signing key is an Ed25519 private key in PEM (PKCS#8) at ``CHATSVC_EXPORT_KEY``
(default ``var/keys/export-ed25519.pem`` under the checkout), made on first use with mode
0600 in a 0700 folder, and never inside an export folder. ``scripts/export key`` prints
its public half (PEM) for whoever checks exports.

Sealing a finished export (:func:`seal`):
  1. the manifest gets ``chain``: the SHA-256 of the team's previous export's manifest.json
     (from the engine: store.exports' ``chain:<team>`` document) and a sequence number, and
     ``signature``: the algorithm, the public key (raw, base64) and its id;
  2. manifest.json is written and its exact bytes are signed: ``manifest.sig`` holds the
     base64 signature;
  3. the engine records this manifest's hash as the team's latest, by compare-and-set: if
     another export of the team finished meanwhile, the chain is re-read and the manifest
     re-made and re-signed, so the chain never forks.
"""
import base64
import hashlib
import json
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chatsvc.export.errors import output_error
from chatsvc.store import exports as export_store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_KEY = os.path.join(ROOT, "var", "keys", "export-ed25519.pem")
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
ALGORITHM = "Ed25519"


def key_path(path: str | None = None) -> str:
    return os.path.abspath(path or os.environ.get("CHATSVC_EXPORT_KEY") or DEFAULT_KEY)


def load_or_create_key(path: str | None = None) -> Ed25519PrivateKey:
    """The signing key at ``path``; made (0600) if there is none yet. Two processes making
    it at once: one creates the file (O_EXCL), the other reads it."""
    path = key_path(path)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            return key
    try:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError) as exc:
        raise output_error(f"cannot read the export signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise output_error(f"the export signing key {path} is not an Ed25519 key")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def raw_public(key) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key) -> str:
    """A short, stable name of a public key: sha256 of its raw 32 bytes, first 16 hex."""
    return "ed25519:" + hashlib.sha256(raw_public(key)).hexdigest()[:16]


def load_public_key(path: str) -> Ed25519PublicKey:
    """A public key from a PEM file (or the public half of a private key PEM)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 key")
    return key


def public_from_manifest(manifest: dict) -> Ed25519PublicKey:
    raw = base64.b64decode(manifest["signature"]["public_key"])
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(public_key: Ed25519PublicKey, manifest_bytes: bytes, sig_text: str) -> bool:
    try:
        public_key.verify(base64.b64decode(sig_text.strip(), validate=True), manifest_bytes)
        return True
    except (InvalidSignature, ValueError):
        return False


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def seal(engine, out: str, manifest: dict, key_file: str | None = None, attempts: int = 10) -> dict:
    """Chain, sign and write the manifest (see the module's doc); returns it."""
    path = key_path(key_file)
    if _inside(path, out):
        raise output_error(f"the signing key {path} must not be inside the export folder {out}")
    key = load_or_create_key(path)
    export_store.ensure(engine)
    team_id = manifest["team"]["id"]
    for _ in range(attempts):
        previous, version = export_store.latest_export(engine, team_id)
        manifest["chain"] = {
            "previous_manifest_sha256": previous.get("manifest_sha256") if previous else None,
            "previous_snapshot_time": previous.get("snapshot_time") if previous else None,
            "sequence": (previous.get("sequence") or 0) + 1 if previous else 1,
        }
        manifest["signature"] = {"algorithm": ALGORITHM, "key_id": key_id(key),
                                 "public_key": base64.b64encode(raw_public(key)).decode("ascii"),
                                 "file": SIGNATURE, "signs": f"the bytes of {MANIFEST}"}
        data = manifest_bytes(manifest)
        _write(os.path.join(out, MANIFEST), data)
        _write(os.path.join(out, SIGNATURE), base64.b64encode(key.sign(data)) + b"\n")
        record = {"manifest_sha256": hashlib.sha256(data).hexdigest(),
                  "snapshot_time": manifest["snapshot"]["time"],
                  "completed_at": manifest.get("completed_at"), "format": manifest.get("format"),
                  "out": os.path.abspath(out), "sequence": manifest["chain"]["sequence"]}
        try:
            export_store.set_latest_export(engine, team_id, record, version)
            return manifest
        except export_store.Stale:
            continue
    raise output_error("could not record the export in the chain: other exports of the team "
                       "kept finishing at the same time; run it again")
