"""Fetch ReDoc's standalone bundle into ``api/_vendor/redoc/`` (install/build time only).

    python -m api.redoc_assets          # fetch (no-op if already present and intact)
    python -m api.redoc_assets --check  # exit 1 if missing

No framework-free PyPI package ships ReDoc, and third-party code is not committed to this
repo, so the npm tarball is fetched once from the npm registry, pinned by version and
verified against its published sha512 integrity, and unpacked next to its MIT licence.
At run time the node only serves these files (``/redoc``); it never contacts a CDN.
``redoc@2.x`` is used: 3.x is ESM-only and sends telemetry by default.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

__all__ = ["REDOC_SHA512", "REDOC_TARBALL", "REDOC_VERSION", "fetch", "target_dir"]

REDOC_VERSION = "2.5.4"
REDOC_TARBALL = f"https://registry.npmjs.org/redoc/-/redoc-{REDOC_VERSION}.tgz"
REDOC_SHA512 = ("M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==")
"""npm ``dist.integrity`` of redoc 2.5.4 (base64 sha512 of the tarball)."""
_MEMBERS = {"package/bundles/redoc.standalone.js": "redoc.standalone.js",
            "package/LICENSE": "LICENSE"}
_MAX_TARBALL_BYTES = 50 * 1024 * 1024


def target_dir() -> Path:
    return Path(__file__).parent / "_vendor" / "redoc"


def fetch(timeout_s: float = 60.0) -> Path:
    """Download, verify and unpack the bundle (idempotent).

    Returns:
        The directory holding ``redoc.standalone.js`` and ``LICENSE``.

    Raises:
        RuntimeError: checksum mismatch or missing members (nothing is written).
        OSError: network errors.
    """
    out = target_dir()
    if (out / "redoc.standalone.js").is_file() and (out / "VERSION").is_file() \
            and (out / "VERSION").read_text().strip() == REDOC_VERSION:
        return out
    with urllib.request.urlopen(REDOC_TARBALL, timeout=timeout_s) as resp:
        data = resp.read(_MAX_TARBALL_BYTES + 1)
    if len(data) > _MAX_TARBALL_BYTES:
        raise RuntimeError("redoc tarball unexpectedly large")
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != REDOC_SHA512:
        raise RuntimeError(f"redoc {REDOC_VERSION}: sha512 mismatch (got {digest})")
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, name in _MEMBERS.items():
            f = tar.extractfile(member)
            if f is None:
                raise RuntimeError(f"redoc tarball lacks {member}")
            files[name] = f.read()
    out.mkdir(parents=True, exist_ok=True)
    (out.parent / ".gitignore").write_text("# fetched at install time, never committed\n*\n")
    for name, content in files.items():
        (out / name).write_bytes(content)
    (out / "VERSION").write_text(REDOC_VERSION + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Fetch ReDoc for the offline /redoc page.")
    parser.add_argument("--check", action="store_true", help="only check it is present")
    args = parser.parse_args()
    if args.check:
        ok = (target_dir() / "redoc.standalone.js").is_file()
        print("present" if ok else "missing")
        sys.exit(0 if ok else 1)
    print(f"ReDoc {REDOC_VERSION} in {fetch()}")


if __name__ == "__main__":
    main()
