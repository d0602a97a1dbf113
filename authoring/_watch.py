"""``adaptive watch``: rebuild a bundle whenever its style file or a MIDI source changes.

A watchdog observer watches the style file and every file its ``[[sources]]``
list. After ``debounce`` seconds without a new change the bundle is rebuilt,
doing only what the change needs:

- each role's job has a digest of everything its models learn from (see
  ``authoring._roles.RoleJob``); a role whose digest is unchanged keeps its
  models byte for byte, only their meta is refreshed. So an edit of the mix,
  the states, stingers, parameters, transitions or stem gains trains nothing;
- the loudness reference is rendered again (the master gain recalibrated)
  only when a model changed or ``mix.loudness_lufs`` did: after any other
  edit a stem made louder sounds louder, and a no-retrain rebuild takes well
  under a second on the tiny style;
- a role whose data changed (a MIDI edit reaches only the roles its
  ``tracks``/``channels`` feed) is fine-tuned from its previous weights for
  ``finetune_fraction`` of its training steps; when its weights cannot be
  reused (new states or grooves change their shape) it trains from scratch.

The previous weights live in a cache next to the bundle, ``OUT.adaptive.cache/``
(``index.json`` with each role's digest, the ONNX models, the torch weights as
``.npz``). The bundle is written atomically (``adaptive.write_bundle``); a style
with an error or a MIDI file that does not import leaves it as it was, and the
watcher reports the error and keeps watching. Each rebuild prints one line.

A watch bundle is for auditioning: fine-tuned models differ from what a full
``adaptive bake`` of the same files would give; bake the release bundle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adaptive._bundle import ModelEntry, TensorSpec
from adaptive._errors import AdaptiveError
from adaptive._schema import Music
from adaptive._style import SourceSpec, Style, load_style

from ._bake import Build, build
from ._midi import ImportedSource, import_midi
from ._roles import ModelStats, RoleJob, RoleOutput
from ._runner import Reuse, RolePlan, Train

__all__ = ["watch_style", "StyleWatcher", "Rebuild", "ModelCache", "default_out_path"]

DEBOUNCE_SECONDS = 0.3
FINETUNE_FRACTION = 0.2  # of a role's training steps, when it fine-tunes after an edit
CACHE_VERSION = 2
_HEADER_FIELDS = frozenset(
    ("name", "version", "author", "license", "description", "tempo", "meter", "key")
)


def default_out_path(style_path: str | os.PathLike[str]) -> Path:
    """``my_style/style.toml`` -> ``my_style/style.adaptive``."""
    return Path(style_path).with_suffix(".adaptive")


def cache_dir(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".cache")


@dataclass(frozen=True)
class Rebuild:
    """What one rebuild did; ``ok`` False means the bundle was left as it was."""

    ok: bool
    out_path: Path
    seconds: float
    changed: tuple[str, ...] = ()  # the files whose change started it
    sections: tuple[str, ...] = ()  # style sections that differ from the last good build
    trained: Mapping[str, str] = field(default_factory=dict)  # role -> how it was retrained
    reused: tuple[str, ...] = ()  # roles whose models were kept byte for byte
    error: str | None = None
    sha256: str | None = None

    def summary(self) -> str:
        what = ", ".join(self.changed) or "start"
        if self.sections:
            what += f" ({', '.join(self.sections)})"
        if not self.ok:
            return (
                f"error after {what}: {self.error}\n"
                f"  kept {self.out_path} as it was; watching for the next change"
            )
        trained = ", ".join(f"{role} ({how})" for role, how in self.trained.items())
        return (
            f"rebuilt {self.out_path} in {self.seconds:.2f} s after {what}: "
            f"retrained {trained or 'nothing'}; "
            f"kept {', '.join(self.reused) or 'nothing'}"
        )


@dataclass
class _Cached:
    digest: str
    arch: tuple[Any, ...]
    output: RoleOutput


class ModelCache:
    """Each role's last trained models and weights, in ``OUT.adaptive.cache/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # the bundle's master gain and the loudness target it was calibrated for
        self.master_gain: tuple[float, float] | None = None

    def load(self) -> dict[str, _Cached]:
        """The cached roles; an unreadable or outdated cache is an empty one (retrain)."""
        try:
            index = json.loads((self.directory / "index.json").read_text(encoding="utf-8"))
            if index.get("version") != CACHE_VERSION:
                return {}
            if index.get("master_gain"):
                gain, target = index["master_gain"]
                self.master_gain = (float(gain), float(target))
            return {role: self._load_role(role, item) for role, item in index["roles"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _load_role(self, role: str, item: Mapping[str, Any]) -> _Cached:
        entries, stats = {}, {}
        for name, model in item["models"].items():
            entries[name] = ModelEntry(
                name=name,
                role=model["role"],
                onnx=(self.directory / model["onnx"]).read_bytes(),
                inputs=tuple(TensorSpec(t[0], t[1], tuple(t[2])) for t in model["inputs"]),
                outputs=tuple(TensorSpec(t[0], t[1], tuple(t[2])) for t in model["outputs"]),
            )
            stats[name] = ModelStats(**model["stats"])
        weights: dict[str, dict[str, np.ndarray]] = {}
        if item.get("weights"):
            with np.load(self.directory / item["weights"]) as arrays:
                for key in arrays.files:
                    module, param = key.split("/", 1)
                    weights.setdefault(module, {})[param] = arrays[key]
        curves = {name: [(int(a), float(b)) for a, b in c] for name, c in item["curves"].items()}
        output = RoleOutput(role, entries, stats, dict(item["losses"]), weights, "reused", curves)
        return _Cached(item["digest"], tuple(item["arch"]), output)

    def save(self, jobs: Iterable[RoleJob], outputs: Mapping[str, RoleOutput]) -> None:
        """Write every role's models and weights, then the index (atomically), then prune."""
        self.directory.mkdir(parents=True, exist_ok=True)
        roles: dict[str, Any] = {}
        keep = {"index.json"}
        for job in jobs:
            output = outputs[job.role]
            models = {}
            for name, entry in output.entries.items():
                filename = f"{entry.sha256[:24]}.onnx"  # by content: an unchanged model stays
                keep.add(filename)
                if not (self.directory / filename).exists():
                    _write_atomic(self.directory / filename, entry.onnx)
                models[name] = {
                    "role": entry.role,
                    "onnx": filename,
                    "inputs": [[t.name, t.dtype, list(t.shape)] for t in entry.inputs],
                    "outputs": [[t.name, t.dtype, list(t.shape)] for t in entry.outputs],
                    "stats": dataclasses.asdict(output.stats[name]),
                }
            weights_name = ""
            if output.weights:
                weights_name = f"{job.role}-{job.digest[:24]}.npz"
                keep.add(weights_name)
                if not (self.directory / weights_name).exists():
                    flat = {
                        f"{module}/{param}": array
                        for module, state in output.weights.items()
                        for param, array in state.items()
                    }
                    _write_atomic(self.directory / weights_name, _npz_bytes(flat))
            roles[job.role] = {
                "digest": job.digest,
                "arch": list(job.arch),
                "models": models,
                "losses": output.losses,
                "curves": {name: [list(p) for p in c] for name, c in output.curves.items()},
                "weights": weights_name,
            }
        index = {"version": CACHE_VERSION, "roles": roles, "master_gain": self.master_gain}
        _write_atomic(self.directory / "index.json", json.dumps(index, indent=1).encode())
        for path in self.directory.iterdir():
            if path.name not in keep and not path.name.startswith("."):
                path.unlink(missing_ok=True)


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sections(before: Style | None, after: Style) -> tuple[str, ...]:
    """The style's top-level sections that differ ("style" for the header fields)."""
    if before is None:
        return ()
    names = [f.name for f in dataclasses.fields(Music)] + ["sources", "training"]
    out: list[str] = []
    for name in names:
        if getattr(before, name) != getattr(after, name):
            section = "style" if name in _HEADER_FIELDS else name
            if section not in out:
                out.append(section)
    return tuple(out)


class StyleWatcher:
    """Rebuilds one style's bundle; ``run`` drives it from a watchdog observer."""

    def __init__(
        self,
        style_path: str | os.PathLike[str],
        out_path: str | os.PathLike[str] | None = None,
        *,
        debounce: float = DEBOUNCE_SECONDS,
        finetune_fraction: float = FINETUNE_FRACTION,
        progress: bool = False,
        on_rebuilt: Callable[[Rebuild], None] | None = None,
        calibrate_loudness: bool = True,
    ) -> None:
        if not 0.0 < finetune_fraction <= 1.0:
            raise ValueError(f"finetune_fraction must be in (0, 1], got {finetune_fraction}")
        self.style_path = Path(style_path).resolve()
        self.out_path = Path(out_path) if out_path is not None else default_out_path(style_path)
        self.debounce = debounce
        self.finetune_fraction = finetune_fraction
        self.progress = progress
        self.on_rebuilt = on_rebuilt
        self.calibrate_loudness = calibrate_loudness
        self.cache = ModelCache(cache_dir(self.out_path))
        self._cached: dict[str, _Cached] | None = None  # loaded on the first rebuild
        self._style: Style | None = None  # of the last good build
        self._style_before: Style | None = None  # of the good build before it
        # the last build's master gain, and the loudness target it was calibrated for
        self._master_gain: tuple[float, float] | None = None
        self._watched: set[Path] = {self.style_path}
        self._pending: set[Path] = set()
        self._last_event = 0.0
        self._wake = threading.Condition()
        self._scheduled: set[Path] = set()
        self._imports: dict[Path, tuple[str, ImportedSource]] = {}  # path -> (key, import)
        self._schedule: Callable[[], None] | None = None  # set while ``run`` observes

    # --- one rebuild --------------------------------------------------------------------
    def rebuild(self, changed: Iterable[Path] = ()) -> Rebuild:
        """Rebuild now; never raises for bad input (the result carries the error)."""
        started = time.perf_counter()
        base = self.style_path.parent
        names = tuple(sorted(_relative(p, base) for p in changed))
        if self._cached is None:
            self._cached = self.cache.load()
            self._master_gain = self.cache.master_gain
        cached = self._cached
        how: dict[str, str] = {}

        def decide(job: RoleJob) -> RolePlan:
            entry = cached.get(job.role)
            if entry is not None and entry.digest == job.digest:
                how[job.role] = "reused"
                return Reuse(entry.output)
            if entry is not None and entry.arch == job.arch and entry.output.weights:
                steps = max(1, round(job.steps * self.finetune_fraction))
                how[job.role] = f"fine-tuned, {steps} steps"
                return Train(init=entry.output.weights, steps=steps)
            # no earlier weights of this shape (a first build, or new states or grooves)
            how[job.role] = "from scratch" if job.kind != "harmony" else "recounted"
            return Train()

        try:
            built = build(
                self.style_path,
                self.out_path,
                progress=self.progress,
                transient=True,
                decide=decide,
                import_source=self._import,
                keep_master_gain=self._master_gain,
                calibrate_loudness=self.calibrate_loudness,
            )
        except Exception as exc:  # any failure keeps the old bundle and the watch
            self._refresh_watched_after_error()
            message = str(exc) if isinstance(exc, AdaptiveError) else f"{type(exc).__name__}: {exc}"
            return self._report(
                Rebuild(False, self.out_path, time.perf_counter() - started, names, error=message)
            )
        self._remember(built)
        result = Rebuild(
            ok=True,
            out_path=self.out_path,
            seconds=time.perf_counter() - started,
            changed=names,
            sections=_sections(self._style_before, built.style),
            trained={role: h for role, h in how.items() if h != "reused"},
            reused=tuple(role for role, h in how.items() if h == "reused"),
            sha256=built.result.sha256,
        )
        return self._report(result)

    def _import(self, source: SourceSpec, style: Style, index: int) -> ImportedSource:
        """``import_midi``, kept while the file's bytes and what the import reads are the same."""
        data = source.path.read_bytes() if source.path.is_file() else b""
        key = hashlib.sha256(
            data + repr((source, style.meter, style.key, _roles(style))).encode()
        ).hexdigest()
        known = self._imports.get(source.path)
        if known is not None and known[0] == key:
            return known[1]
        imported = import_midi(source.path, source, style, index=index)
        self._imports[source.path] = (key, imported)
        return imported

    def _remember(self, built: Build) -> None:
        self._style_before, self._style = self._style, built.style
        self._master_gain = (built.master_gain_db, built.style.mix.loudness_lufs)
        self.cache.master_gain = self._master_gain
        self._cached = {
            job.role: _Cached(job.digest, job.arch, built.outputs[job.role]) for job in built.jobs
        }
        try:
            self.cache.save(built.jobs, built.outputs)
        except OSError as exc:  # the bundle is written; only the next rebuild gets slower
            warnings.warn(
                f"could not write the model cache {self.cache.directory}: {exc}", stacklevel=2
            )
        self._watched = {self.style_path} | {s.path.resolve() for s in built.style.sources}

    def _refresh_watched_after_error(self) -> None:
        """Keep watching the sources of the style as it is now, if it loads at all."""
        try:
            style = load_style(self.style_path)
        except Exception:  # a broken style keeps the last list
            return
        self._watched |= {s.path.resolve() for s in style.sources}

    def _report(self, result: Rebuild) -> Rebuild:
        if self._schedule is not None:  # watch new sources before anyone edits them
            self._schedule()
        if self.on_rebuilt is not None:
            self.on_rebuilt(result)
        return result

    # --- watching -----------------------------------------------------------------------
    def notice(self, *paths: str | bytes) -> None:
        """A filesystem event touched ``paths``: queue those this watcher watches."""
        hits = set()
        for raw in paths:
            if not raw:
                continue
            path = Path(os.fsdecode(raw)).resolve()
            if path in self._watched:
                hits.add(path)
        if hits:
            with self._wake:
                self._pending |= hits
                self._last_event = time.monotonic()
                self._wake.notify_all()

    def run(self, stop_event: threading.Event | None = None, *, initial: bool = True) -> None:
        """Build once (unless ``initial`` is False), then rebuild on changes until stopped."""
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        stop = stop_event or threading.Event()
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                watcher.notice(event.src_path, getattr(event, "dest_path", ""))

        observer = Observer()
        handler = Handler()
        self._scheduled = set()

        def schedule() -> None:
            # Only ever adds folders: unscheduling one, even briefly, could lose an edit.
            for folder in sorted({p.parent for p in self._watched} - self._scheduled):
                if folder.is_dir():
                    observer.schedule(handler, str(folder), recursive=False)
                    self._scheduled.add(folder)

        self._schedule = schedule
        schedule()
        observer.start()
        try:
            if initial:
                self.rebuild()
            while not stop.is_set():
                changed = self._next_changes(stop)
                if changed:
                    self.rebuild(changed)
        finally:
            self._schedule = None
            observer.stop()
            observer.join()

    def _next_changes(self, stop: threading.Event) -> set[Path]:
        """Wait for changes, then for ``debounce`` seconds of quiet; empty when stopped."""
        with self._wake:
            while not stop.is_set():
                if self._pending:
                    quiet = time.monotonic() - self._last_event
                    if quiet >= self.debounce:
                        changed, self._pending = self._pending, set()
                        return changed
                    self._wake.wait(self.debounce - quiet)
                else:
                    self._wake.wait(0.1)
        return set()


def _roles(style: Style) -> dict[str, str]:
    return {name: spec.role for name, spec in style.stems.items()}


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def watch_style(
    style_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str] | None = None,
    *,
    on_rebuilt: Callable[[Rebuild], None] | None = None,
    stop_event: threading.Event | None = None,
    debounce: float = DEBOUNCE_SECONDS,
    finetune_fraction: float = FINETUNE_FRACTION,
    progress: bool = False,
    calibrate_loudness: bool = True,
) -> None:
    """Build ``style_path`` into ``out_path``, then rebuild it on every change until
    ``stop_event`` is set (blocks; run it in a thread to drive it from a test or a game).

    ``on_rebuilt(rebuild)`` is called after every attempt, good or bad, with the
    bundle's path in ``rebuild.out_path``: the moment to ``engine.reload`` it.
    ``calibrate_loudness`` False never renders the loudness reference (tests).
    """
    StyleWatcher(
        style_path,
        out_path,
        debounce=debounce,
        finetune_fraction=finetune_fraction,
        progress=progress,
        on_rebuilt=on_rebuilt,
        calibrate_loudness=calibrate_loudness,
    ).run(stop_event)
