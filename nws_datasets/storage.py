"""Where the NWS lives on disk, and atomic writes (temp file + rename) for everything we save."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def nws_home() -> Path:
    """The NWS home: ``$NWS_HOME`` if set, else ``~/.cache/nws``."""
    return Path(os.environ.get("NWS_HOME") or Path.home() / ".cache" / "nws").expanduser()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path`` atomically.

    A crash at any moment leaves either the old file or the new one, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a dataset is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")


#: the largest JSON file the package reads (results, indexes and metadata are far smaller)
MAX_JSON_BYTES = 256 * 2**20


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"duplicate key {dup[0]!r}")
    return dict(pairs)


def parse_json(text: str | bytes, where: str) -> Any:
    """Parse JSON ``text`` read from ``where``, refusing duplicate keys and nesting too deep to
    parse; a ValueError whose message names ``where``."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates)
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except ValueError as err:
        raise ValueError(f"{where}: not valid JSON ({err})") from None


def read_json(path: str | os.PathLike) -> Any:
    """:func:`parse_json` of the file ``path`` (at most :data:`MAX_JSON_BYTES`)."""
    path = Path(path)
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size:,} bytes, larger than any JSON file the package writes")
    return parse_json(path.read_bytes(), str(path))
