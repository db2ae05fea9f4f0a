"""ikabot ≤ 7.5's encrypted line format (also `.legacy_migration.enc` in 7.6+).

One line per e-mail account: `<sha256("ikabot"+email) hex> <base64(nonce16 ‖ ct ‖ tag16)>`,
AES-256-GCM under a key stretched with 4096 rounds of SHA-256. The stretching costs
milliseconds, so a reader derives the key once per account and keeps it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

NONCE = 16
TAG = 16


class DecryptError(Exception):
    """The line does not decrypt under this key (wrong password, or a torn line)."""


def entry_key(email: str) -> str:
    return hashlib.sha256(b"ikabot" + email.encode("utf-8")).hexdigest()


def derive_key(email: str, password: str) -> bytes:
    key = hashlib.sha256(email.encode("utf-8") + b"\x00" + str(password).encode("utf-8")).digest()
    for _ in range(0xFFF):
        key = hashlib.sha256(key).digest()
    return key


def decrypt(key: bytes, ciphertext_b64: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(ciphertext_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise DecryptError("not base64") from e
    if len(raw) < NONCE + TAG:
        raise DecryptError("too short")
    nonce, body, tag = raw[:NONCE], raw[NONCE:-TAG], raw[-TAG:]
    from Crypto.Cipher import AES  # only for encrypted (legacy) data: ~5 MB with cffi

    try:
        plain = AES.new(key, AES.MODE_GCM, nonce=nonce).decrypt_and_verify(body, tag)
    except ValueError as e:
        raise DecryptError("authentication failed") from e
    try:
        data = json.loads(plain.decode("utf-8"), strict=False)
    except (UnicodeDecodeError, ValueError) as e:
        raise DecryptError("not JSON") from e
    if not isinstance(data, dict):
        raise DecryptError("not a JSON object")
    return data


def encrypt(key: bytes, data: dict[str, Any]) -> str:
    from Crypto.Cipher import AES

    nonce = os.urandom(NONCE)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    body, tag = cipher.encrypt_and_digest(json.dumps(data).encode("utf-8"))
    return base64.b64encode(nonce + body + tag).decode("ascii")


@dataclass(frozen=True)
class Line:
    key: str  # the 64-hex entry key
    ciphertext: str
    raw: str


def parse_lines(text: str) -> tuple[list[Line], int]:
    """The well-formed lines of a legacy file, and how many others were passed over.

    A garbage line beside good ones costs only itself.
    """
    lines: list[Line] = []
    bad = 0
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped:
            continue
        head, rest = stripped[:64], stripped[64:].strip()
        if len(head) == 64 and all(c in "0123456789abcdef" for c in head) and rest:
            lines.append(Line(head, rest, raw))
        else:
            bad += 1
    return lines, bad
