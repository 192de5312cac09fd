"""`DirSource`: a folder of .eml files as a mail source (tests, `classify`, demos)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from reconciler.errors import SourceError
from reconciler.records import RawMessage

__all__ = ["DirSource"]


class DirSource:
    """Files `*.eml` of `path`, UIDs 1..n in name order as found by `open()`.

    UIDVALIDITY is 1.  `move` renames files into `path/<destination>/` (refused read-only).
    """

    def __init__(self, path: Path, read_only: bool = True) -> None:
        self._path = path
        self._read_only = read_only
        self._files: dict[int, Path] = {}

    def open(self) -> None:
        if not self._path.is_dir():
            raise SourceError(f"{self._path}: not a directory")
        names = sorted(self._path.glob("*.eml"))
        self._files = dict(enumerate(names, start=1))

    def __enter__(self) -> DirSource:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def mailbox(self) -> str:
        return str(self._path)

    @property
    def uidvalidity(self) -> int:
        return 1

    @property
    def read_only(self) -> bool:
        return self._read_only

    def uids_after(self, last_uid: int) -> list[int]:
        return [uid for uid in sorted(self._files) if uid > last_uid]

    def sizes(self, uids: Sequence[int], small: int = 0) -> dict[int, int]:
        """Each file's size (`small` changes nothing: a stat is no round trip)."""
        found: dict[int, int] = {}
        for uid in uids:
            path = self._files.get(uid)
            if path is None:
                continue
            try:
                found[uid] = path.stat().st_size
            except OSError as err:
                raise SourceError(f"{path}: cannot read: {err}") from err
        return found

    def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        found: list[RawMessage] = []
        for uid in sorted(uids):
            path = self._files.get(uid)
            if path is None:
                continue
            try:
                data = path.read_bytes()
            except OSError as err:
                raise SourceError(f"{path}: cannot read: {err}") from err
            found.append(RawMessage(self.mailbox, 1, uid, data, len(data)))
        return found

    def move(self, uids: Sequence[int], destination: str) -> int:
        if self._read_only:
            raise SourceError(f"{self._path}: read-only, cannot move to {destination}")
        target = self._path / destination
        try:
            target.mkdir(parents=True, exist_ok=True)
            for uid in uids:
                path = self._files.pop(uid, None)
                if path is not None:
                    path.rename(target / path.name)
        except OSError as err:
            raise SourceError(f"{self._path}: cannot move to {destination}: {err}") from err
        return 0

    def close(self) -> None:
        self._files = {}
