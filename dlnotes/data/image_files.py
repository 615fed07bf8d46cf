"""Which files of a folder are images: one file, a folder, or a folder with class sub-folders.

Hidden files and folders (``.ipynb_checkpoints``, macOS's ``._x.png``) are never images. Reading the
files is ``dlnotes.data.pixels``' job; this module only lists them (no torch, no Pillow).
"""

from __future__ import annotations

from pathlib import Path

from dlnotes.errors import UserError, path_note

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def is_image_file(p: Path) -> bool:
    """An image suffix, not hidden, not a folder (a FIFO named x.png is listed, and refused when read)."""
    return p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and not p.is_dir()


def image_files(path: Path, where: str = "--input", recursive: bool = False) -> list[Path]:
    """``path`` itself, or the image files inside the folder ``path`` (and its visible sub-folders when
    ``recursive``), sorted."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{where} '{path}' not found{path_note(path)}")
    if not path.is_dir():
        return [path]
    found = path.rglob("*") if recursive else path.iterdir()
    files = sorted(p for p in found if is_image_file(p)
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise UserError(f"{where} '{path}' holds no image files ({', '.join(IMAGE_SUFFIXES)})"
                        + (", nor do its sub-folders" if recursive else ""))
    return files
