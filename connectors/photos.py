"""The parties' scene photos and drawn signatures of a quick-handling case (``claims.ports.PhotoStore``), as files beside the stores:
``<var>/photos/<quick id>/<sha256>.<ext>``; the claims store keeps their hashes."""
from __future__ import annotations

from pathlib import Path


class PhotoFolder:
    def __init__(self, var_dir: Path):
        self.root = Path(var_dir) / "photos"

    def keep(self, quick_id: str, name: str, data: bytes) -> None:
        folder = self.root / quick_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)

    def read(self, quick_id: str, name: str) -> bytes | None:
        """A kept photo's bytes (None when there is none by that name); names are ``<sha256>.<ext>`` only."""
        import re

        if not re.fullmatch(r"[0-9a-f]{64}\.(jpg|jpeg|png|webp)", name) or not re.fullmatch(r"[A-Za-z0-9-]{1,60}", quick_id):
            return None
        path = self.root / quick_id / name
        return path.read_bytes() if path.is_file() else None
