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
        if "/" in quick_id or "/" in name or name.startswith("."):
            return None
        path = self.root / quick_id / name
        return path.read_bytes() if path.is_file() else None
