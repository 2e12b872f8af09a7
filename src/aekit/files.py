"""Atomic file writes: write to a temporary name in the target's folder, flush to disk, then rename onto the target.

A failure at any point (an exception, a full disk, a kill) leaves either the old file or the new one, never a partial
one. Files get the mode an ordinary ``open()`` would give them (0666 less the umask), not mkstemp's 0600.

Temporary names carry the writing process's id (``.NAME.aekit-PID-XXXX.tmp``, folders ``...new`` / ``...old``), so
that what a killed process left behind is recognised and removed by the next aekit command that writes into the same
folder (:func:`sweep`), and never what a live process is still writing.

Outputs made of several files and folders (an array and its PNGs, the three ONNX graphs) are written together:
inside :func:`together`, every atomic write and every new folder (:func:`new_folder`) stays under its temporary name
until the block ends without an error, and then all are renamed into place at once; an error removes them all.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator


def _umask() -> int:
    try:  # Linux >= 4.7 reports it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back
    os.umask(mask)
    return mask


class WriteError(OSError):
    """A file could not be written (full disk, read-only file system, a folder in the way...); names the file."""


_TEMP = re.compile(r"^\.(?P<name>.+)\.aekit-(?P<pid>\d+)-[A-Za-z0-9_]+\.(?P<kind>tmp|new|old)$")
_mine: set[str] = set()  # temporary paths this process is writing now (a reused pid is not a dead writer)
_swept: set[Path] = set()


def temp_prefix(name: str) -> str:
    return f".{name}.aekit-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep(folder: str | Path) -> list[Path]:
    """Remove what killed aekit processes left in ``folder``: temporary files and staged folders whose process is
    gone. A replaced folder (``.old``) whose target is missing (a kill between the two renames of
    :func:`replace_dir` without an atomic exchange) is put back instead. Returns what was removed or restored."""
    folder = Path(folder)
    done: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return done
    for e in entries:
        m = _TEMP.match(e.name)
        if not m:
            continue
        pid = int(m["pid"])
        if e.path in _mine or (pid != os.getpid() and _alive(pid)):
            continue
        path = Path(e.path)
        target = folder / m["name"]
        try:
            if m["kind"] == "old" and not os.path.lexists(target):
                os.rename(path, target)
            elif e.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            done.append(path)
        except OSError:
            pass  # another process got there first, or a read-only folder: nothing to do
    return done


def _sweep_once(folder: Path) -> None:
    key = folder.resolve()
    if key not in _swept:
        _swept.add(key)
        sweep(folder)


class _Together:
    def __init__(self) -> None:
        self.moves: list[tuple[Path, Path, bool]] = []  # (temporary, target, is a folder)


_together: contextvars.ContextVar[_Together | None] = contextvars.ContextVar("aekit_together", default=None)


@contextlib.contextmanager
def together() -> Iterator[None]:
    """Within the block, atomic writes and :func:`new_folder` folders stay under their temporary names; at its end
    they are renamed into place one after another (an output appears whole or not at all: should a rename fail,
    those already made are undone), and on an error they are all removed. Blocks nest into the outermost."""
    if _together.get() is not None:
        yield
        return
    group = _Together()
    token = _together.set(group)
    try:
        yield
    except BaseException:
        _together.reset(token)
        for tmp, _, is_dir in group.moves:
            _remove(tmp, is_dir)
        raise
    _together.reset(token)
    done: list[tuple[Path, Path | None]] = []  # (target, what it replaced, kept under a temporary name)
    try:
        for tmp, target, is_dir in group.moves:
            if is_dir:
                done.append((target, replace_dir(tmp, target, keep_old=True)))
            else:
                backup = None
                if target.is_file() and not target.is_symlink():
                    backup = target.parent / f"{temp_prefix(target.name)}{os.urandom(4).hex()}.old"
                    try:
                        os.link(target, backup)  # the file as it was, to put back should a later rename fail
                        _mine.add(str(backup))
                    except OSError:  # a file system without hard links: no way back for this one
                        backup = None
                os.replace(tmp, target)
                _mine.discard(str(tmp))
                done.append((target, backup))
    except OSError as e:
        for tmp, _, is_dir in group.moves:
            if os.path.lexists(tmp):
                _remove(tmp, is_dir)
        for target, old in reversed(done):  # undo: the earlier outputs as they were
            _remove(target, target.is_dir() and not target.is_symlink())
            if old is not None:
                os.replace(old, target)
        raise WriteError(f"cannot write {target}: {e.strerror or e}") from e
    for _, old in done:
        if old is not None:
            _remove(old, old.is_dir() and not old.is_symlink())


def _remove(path: Path, is_dir: bool) -> None:
    try:
        shutil.rmtree(path) if is_dir else path.unlink()
    except FileNotFoundError:
        pass
    _mine.discard(str(path))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot; do it in two renames
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(new: str | Path, target: str | Path, keep_old: bool = False) -> Path | None:
    """Put the folder ``new`` in the place of ``target`` (which may not exist yet). An existing ``target`` is swapped
    out in one atomic step where the system can, else moved aside under a temporary name first (a kill in between
    leaves it there, and :func:`sweep` puts it back). The old folder is removed, or with ``keep_old`` left under a
    temporary name that is returned."""
    new, target = Path(new), Path(target)
    if not os.path.lexists(target):
        os.rename(new, target)
        _mine.discard(str(new))
        return None
    old = target.parent / f"{temp_prefix(target.name)}{os.urandom(4).hex()}.old"
    _mine.add(str(old))
    if _exchange(new, target):
        os.rename(new, old)
    else:
        os.rename(target, old)
        os.rename(new, target)
    _mine.discard(str(new))
    if keep_old:
        return old
    _remove(old, True)
    return None


def make_dirs(path: str | Path) -> Path | None:
    """Make the folder ``path`` and any missing parents (as ``mkdir -p``); the topmost folder it made, or None when
    ``path`` was already there (for :func:`removed_if_empty`)."""
    path = Path(path)
    top = None
    for p in (path, *path.parents):
        if os.path.lexists(p):
            break
        top = p
    path.mkdir(parents=True, exist_ok=True)
    return top


@contextlib.contextmanager
def removed_if_empty(made: Path | None, inside: Path | None = None) -> Iterator[None]:
    """When the block fails, remove the folders :func:`make_dirs` ``made``, if nothing was written into ``inside``
    (default: ``made``) that is still there: a command that fails leaves no empty folder behind, and never removes
    a file."""
    try:
        yield
    except BaseException:
        if made is not None:
            folder = Path(inside or made)
            if not folder.is_dir() or not any(p.is_file() or p.is_symlink() for p in folder.rglob("*")):
                shutil.rmtree(made, ignore_errors=True)
        raise


def staging_folder(target: str | Path) -> Path:
    """A new empty folder beside ``target`` under a temporary name (removed by :func:`sweep` if its process dies)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(target.parent)
    path = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), suffix=".new", dir=target.parent))
    _mine.add(str(path))
    os.chmod(path, 0o777 & ~_umask())  # what mkdir would give it (mkdtemp's 0700 would outlive the swap)
    return path


@contextlib.contextmanager
def new_folder(target: str | Path, replace: bool = False) -> Iterator[Path]:
    """Make a folder of files that appears whole at ``target``: the block writes into the yielded temporary folder
    (its files directly, whatever encloses it), which then takes ``target``'s place (at the end of an enclosing
    :func:`together`, if any). ``target`` must not exist or be an empty folder, unless ``replace`` (the caller has
    checked that replacing it loses nothing). On an error the temporary folder is removed and ``target`` stays as it
    was."""
    target = Path(target)
    if not replace and (target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir())))):
        raise ValueError(f"{target} exists and is not an empty folder: choose a new one")
    tmp = staging_folder(target)
    group = _together.get()
    token = _together.set(None)  # the files inside are written in place: the folder is what appears later
    try:
        yield tmp
    except BaseException:
        _remove(tmp, True)
        raise
    finally:
        _together.reset(token)
    try:
        if group is not None:
            group.moves.append((tmp, target, True))
        else:
            replace_dir(tmp, target)
    except OSError as e:
        _remove(tmp, True)
        raise WriteError(f"cannot write {target}: {e.strerror or e}") from e


def subfolder(root: str | Path, name: str) -> Path:
    """``root/name`` as a real folder (made if missing). A link there is refused: aekit never writes through a link
    to a place outside the folder it was asked to write into."""
    path = Path(root) / name
    if path.is_symlink():
        raise WriteError(f"{path} is a symbolic link: aekit writes only into real folders inside {root}; remove the "
                         "link")
    if path.exists() and not path.is_dir():
        raise WriteError(f"cannot write into {path}: it is a file, not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary name in ``path``'s folder, flush it to disk, then rename it onto
    ``path`` (at the end of an enclosing :func:`together`, if any). On any failure the temporary file is removed and
    ``path`` is left as it was; an OSError becomes a :class:`WriteError` that names ``path``."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise WriteError(f"cannot write {path}: it is a directory")
    tmp = None
    group = _together.get()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_once(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
        _mine.add(tmp)
        os.close(fd)
        write(tmp)
        with open(tmp, "rb+") as f:  # the data is on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if group is not None:
            group.moves.append((Path(tmp), path, False))
        else:
            os.replace(tmp, path)
            _mine.discard(tmp)
        tmp = None
    except OSError as e:
        if isinstance(e, WriteError):
            raise
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        if tmp is not None:
            _remove(Path(tmp), False)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda p: Path(p).write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: Path(p).write_text(text))
