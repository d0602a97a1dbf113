"""bake: style.toml + MIDI sources -> one .adaptive bundle.

Phases: import every source, analyse chords, train one model per role
(harmony, melody, bass, drums generator + critic), export each to ONNX with a
parity check, then write the bundle atomically. Nothing touches ``out_path``
before ``adaptive.write_bundle``'s final rename, so a failed bake leaves an
existing bundle exactly as it was.

torch is imported lazily inside ``bake`` so that importing this module (for
example through the CLI) stays light.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive._bundle import read_bundle, write_bundle
from adaptive._conditioning import (
    ATTRIBUTES,
    attribute_targets,
    bar_attributes,
    condition_features,
    encode_condition,
    rank_table,
    ranks_of,
)
from adaptive._errors import AdaptiveError, BundleError, StyleError
from adaptive._music import DRUM_VOICES, Bar, Note
from adaptive._schema import (
    Manifest,
    Music,
    ProvenanceEntry,
    SchemaError,
    TrainingRecord,
    check_links,
)
from adaptive._style import SourceSpec, Style, load_style
from adaptive._tokens import Vocabulary

from . import _distributed
from ._calibrate import scale_target
from ._losses import LossCurves
from ._loudness import calibrated_manifest
from ._midi import ImportedSource, MeterWarning, UnsupportedMeterError, drum_voice, import_midi
from ._mood import mood_from_text
from ._roles import ModelStats, RoleJob, RoleOutput
from ._runner import Progress, RolePlan, Train, passive_openmp, plan_threads, run_jobs
from ._soundfont import extract_presets
from ._train.config import TrainingConfig, resolve_config

if TYPE_CHECKING:
    from ._train.drums import DrumData

__all__ = [
    "bake", "build", "rebake_manifest", "Build", "BakeResult", "ModelStats", "RoleJob",
    "RoleOutput",
]  # fmt: skip

# The mood the data carries: a minor-key source trains the models as dark music.
MINOR_VALENCE, MAJOR_VALENCE = 0.2, 0.8
INTENSITY_RANKS = (0.05, 0.95)  # intensity 0 -> density at the corpus' 5th percentile, 1 -> 95th
REGISTER_RANKS = (0.3, 0.7)  # valence 0 -> register rank 0.3, valence 1 -> 0.7
AROUSAL_SHIFT = 0.2  # attribute ranks added per unit of arousal above 0.5
MAX_RHYTHMS = 6
MAX_NOTES_PER_ONSET = 4  # a melody or bass model's chords: at most this many notes
MAX_INTERVAL = 24  # the interval prior's last bin: this many semitones or more
MAX_GROOVES = 4
PRESENCE_BINS = 5  # the arrangement's busyness, in equal shares of the sources' bars
CONTROL_ROWS = 21  # intensities the drums' control term steers to


@dataclass(frozen=True)
class BakeResult:
    out_path: Path
    sha256: str  # of the written bundle file
    seconds: float
    models: Mapping[str, ModelStats]
    sources: int
    bars: int
    config: Mapping[str, Any] = field(default_factory=dict)
    rank: int = 0  # in a distributed bake only rank 0 writes the bundle


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cond(
    features: list[str],
    imp: ImportedSource,
    state: str,
    bar: Bar,
    attributes: np.ndarray,
    groove: int = -1,
) -> np.ndarray:
    """One training bar's conditioning: its own attribute ranks, the source's mood, the state."""
    return encode_condition(
        features,
        intensity=0.5,
        valence=_source_valence(imp),
        state=state,
        chord=bar.chord,
        bar_index=bar.index,
        attributes=dict(zip(ATTRIBUTES, attributes.tolist(), strict=True)),
        groove=groove,
    )


def _source_valence(imp: ImportedSource) -> float:
    """The mood the data itself carries: minor-key sources are the dark ones."""
    return MINOR_VALENCE if imp.key.mode == "minor" else MAJOR_VALENCE


def _check_coverage(style: Style, imported: list[ImportedSource]) -> None:
    mapped = {stem for imp in imported for stem in imp.stems}
    for stem in style.stems:
        if stem not in mapped:
            raise StyleError(
                f"{style.path}: field 'stems.{stem}': no [[sources]] entry maps this stem, "
                "so its model has nothing to learn from; "
                "add it to some source's 'tracks' or 'channels'"
            )


def bake(
    style_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    seed: int | None = None,
    calibrate_loudness: bool = True,
) -> BakeResult:
    """Bake the style at ``style_path`` into a bundle at ``out_path``.

    ``calibrate_loudness``: render the bundle's reference session and store the
    master gain that meets the style's ``mix.loudness_lufs`` (ITU-R BS.1770).

    ``overrides`` replace keys of the style's ``[training]`` table (see
    ``authoring._train.config.TrainingConfig``); ``seed`` replaces ``training.seed``.
    The same style, config and seed give the same model bytes. Raises
    ``StyleError`` / ``MidiImportError`` naming the file and field, or
    ``ExportError`` if an exported model disagrees with torch; on any failure
    the file at ``out_path`` is left untouched.
    """
    return build(
        style_path,
        out_path,
        progress=progress,
        overrides=overrides,
        seed=seed,
        calibrate_loudness=calibrate_loudness,
    ).result


@dataclass
class Build:
    """A written bundle and how each role got its models (the watcher keeps these)."""

    result: BakeResult
    style: Style
    jobs: list[RoleJob]
    outputs: dict[str, RoleOutput]
    master_gain_db: float = 0.0  # as stored in the bundle


def build(
    style_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    seed: int | None = None,
    decide: Callable[[RoleJob], RolePlan] | None = None,
    import_source: ImportFn | None = None,
    transient: bool = False,
    calibrate_loudness: bool = True,
    keep_master_gain: tuple[float, float] | None = None,
) -> Build:
    """``bake``, with ``decide`` choosing per role to train, fine-tune or reuse, and
    ``import_source`` importing one source (the watcher keeps unchanged files').

    ``keep_master_gain``: (gain in dB, the ``mix.loudness_lufs`` it was calibrated
    for) of an earlier build; stored as is, without rendering the loudness
    reference again, when no model changed and the target is the same.
    """
    started = time.perf_counter()
    style, extras = _load_style_with_extras(Path(style_path))
    style, moods = _apply_moods(style, extras)
    config = resolve_config(style.training, overrides, seed=seed, style_path=style.path)
    config = _distributed.share_threads(config)  # workers on one machine split its threads
    out = check_out_path(out_path)

    with (
        _distributed.session() as workers,
        Progress(progress and workers.is_main, transient=transient).running() as display,
    ):
        ui = LossCurves(display)  # records each model's loss curve for the training report
        # before torch loads: a bad MIDI file fails fast
        imported, skipped = _import_all(style, ui, import_source or _import_one)
        samplers, soundfonts = _soundfont_presets(style, ui)
        passive_openmp()  # torch loads next
        tempo = _state_tempo(style, imported, extras)
        jobs = prepare_jobs(style, config, imported, tempo)
        plans = {job.role: (decide or (lambda _job: Train()))(job) for job in jobs}
        threads = plan_threads(
            config.threads, [j for j in jobs if isinstance(plans[j.role], Train)]
        )
        if workers.distributed:  # the ranks all-reduce each role's steps in step: no workers
            threads = dataclasses.replace(threads, processes=1)
        outputs = run_jobs(jobs, plans, threads, ui)
        for output in outputs.values():
            ui.points.update(output.curves)
        entries = {name: e for job in jobs for name, e in outputs[job.role].entries.items()}
        stats = {name: s for job in jobs for name, s in outputs[job.role].stats.items()}
        losses = {name: v for job in jobs for name, v in outputs[job.role].losses.items()}
        write = ui.task("write bundle", 1)
        manifest = _manifest(style, config, imported, losses, time.perf_counter() - started)
        environment = training_environment(threads.threads)
        environment["bake"] = threads.describe()
        environment["models"] = {job.role: outputs[job.role].how for job in jobs}
        manifest = dataclasses.replace(
            manifest,
            training=dataclasses.replace(
                manifest.training,
                environment=environment,
                state_tempo=tempo,
                moods=moods,
                skipped_sources=tuple(p.name for p in skipped),
                loss_curves=ui.thinned(),
                parity={name: s.parity_max_abs_diff for name, s in stats.items()},
                distributed=workers.record(),
            ),
        )
        if soundfonts:
            provenance = (*manifest.provenance, *soundfonts)
            manifest = dataclasses.replace(manifest, provenance=provenance)
        digest = ""
        if workers.is_main:  # one writer, after every worker's models passed their checks
            kept = _kept_master_gain(keep_master_gain, style, outputs)
            if kept is not None:
                manifest = dataclasses.replace(
                    manifest, mix=dataclasses.replace(manifest.mix, master_gain_db=kept)
                )
            elif calibrate_loudness:
                level = ui.task("loudness", 1)
                manifest, loudness = calibrated_manifest(
                    manifest, entries, samplers, seed=config.seed
                )
                level(
                    1,
                    f"{loudness.measured_lufs:.1f} LUFS, "
                    f"master {manifest.mix.master_gain_db:+.1f} dB",
                )
            digest = write_bundle(out, manifest, entries, samplers)
        write(1, out.name)
    result = BakeResult(
        out_path=out,
        sha256=digest,
        seconds=time.perf_counter() - started,
        models=stats,
        sources=len(imported),
        bars=sum(len(imp.bars) for imp in imported),
        config=config.to_dict(),
        rank=workers.rank,
    )
    return Build(result, style, jobs, outputs, manifest.mix.master_gain_db)


def _kept_master_gain(
    keep: tuple[float, float] | None, style: Style, outputs: Mapping[str, RoleOutput]
) -> float | None:
    if keep is None or any(output.how != "reused" for output in outputs.values()):
        return None
    gain, target = keep
    return gain if target == style.mix.loudness_lufs else None


ImportFn = Callable[[SourceSpec, Style, int], ImportedSource]


def _import_one(source: SourceSpec, style: Style, index: int) -> ImportedSource:
    return import_midi(source.path, source, style, index=index)


def _soundfont_presets(
    style: Style, ui: Progress | LossCurves
) -> tuple[dict[str, dict[str, Any]], list[ProvenanceEntry]]:
    """The SoundFont preset of every stem that names one, and a credit per SoundFont file.

    Only the samples each preset's zones use are copied (``authoring._soundfont``)."""
    wanted: dict[Path, dict[str, tuple[int, int]]] = {}
    for name, stem in style.stems.items():
        if stem.preset is None:
            continue
        path = style.soundfont_path(name)
        if path is None:
            raise StyleError(
                f"{style.path}: field 'stems.{name}.soundfont': preset {stem.preset} needs a "
                "SoundFont file (a .sf2 path relative to the style)"
            )
        wanted.setdefault(path, {})[name] = (stem.bank or 0, stem.preset)
    if not wanted:
        return {}, []
    task = ui.task("SoundFont presets", sum(len(stems) for stems in wanted.values()))
    samplers: dict[str, dict[str, Any]] = {}
    credits = []
    done = 0
    for path, stems in wanted.items():
        try:
            presets = extract_presets(path, stems.values())
        except AdaptiveError as exc:
            field_names = ", ".join(f"stems.{n}" for n in stems)
            raise StyleError(f"{style.path}: field '{field_names}': {exc}") from None
        for name, key in stems.items():
            samplers[name] = presets[key]
            done += 1
            task(done, f"{name}: {presets[key]['name']}")
        source = next(iter(presets.values()))["provenance"]
        credits.append(
            ProvenanceEntry(
                file=path.name,
                sha256=source["sha256"],
                license=source["license"][:256],
                attribution=source["attribution"],
                kind="soundfont",
            )
        )
    return samplers, credits


def check_out_path(out_path: str | os.PathLike[str]) -> Path:
    """The bundle's path, refused if it is a directory: before minutes of training,
    not at the final rename."""
    out = Path(out_path)
    if out.is_dir():
        raise BundleError(
            f"{out}: is a directory; give the bundle's file path, e.g. {out / 'style.adaptive'}"
        )
    return out


def _import_all(
    style: Style, ui: Progress | LossCurves, import_source: ImportFn = _import_one
) -> tuple[list[ImportedSource], list[Path]]:
    """Every source, imported; a source wholly in a meter the style cannot play is
    skipped with a warning naming it (and listed in the bundle's training map)."""
    advance = ui.task("import MIDI", len(style.sources))
    imported = []
    skipped: list[Path] = []
    for i, source in enumerate(style.sources):
        try:
            imported.append(import_source(source, style, i))
        except UnsupportedMeterError as exc:
            warnings.warn(str(exc), MeterWarning, stacklevel=2)
            skipped.append(source.path)
        advance(i + 1, source.path.name)
    if not imported:
        raise StyleError(
            f"{style.path}: field 'sources': no source is in the style's meter {style.meter}"
        )
    _check_coverage(style, imported)
    return imported, skipped


# --- style values the typed schema does not read yet -----------------------------------
def _load_style_with_extras(path: Path) -> tuple[Style, dict[str, dict[str, dict[str, Any]]]]:
    """The style, plus each state's mood words and tempo, as ``{"states": {name: {...}}}``."""
    style = load_style(path)
    states = {
        name: {
            k: v for k, v in (("mood", spec.mood or None), ("tempo", spec.tempo)) if v is not None
        }
        for name, spec in style.states.items()
    }
    return style, {"states": {n: v for n, v in states.items() if v}, "parameters": {}}


def _apply_moods(
    style: Style, extras: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> tuple[Style, dict[str, dict[str, Any]]]:
    """A state's ``mood`` words set its valence and arousal (through the affect lexicon)."""
    states = dict(style.states)
    report: dict[str, dict[str, Any]] = {}
    for name, values in extras.get("states", {}).items():
        text = values.get("mood")
        if text is None or name not in states:
            continue
        mood = mood_from_text(text)
        if mood is None:
            raise StyleError(
                f"{style.path}: field 'states.{name}.mood': none of the words in {text!r} is in "
                f"the affect lexicon; try words such as calm, bright, tense, dark, driving"
            )
        states[name] = replace(states[name], valence=mood.valence, arousal=mood.arousal)
        report[name] = {
            "text": text,
            "valence": mood.valence,
            "arousal": mood.arousal,
            "unknown_words": list(mood.unknown),
        }
    return replace(style, states=states), report


def _state_tempo(
    style: Style, imported: list[ImportedSource], extras: Mapping[str, Any]
) -> dict[str, float]:
    """bpm per state: the style's ``states.NAME.tempo``, else the median tempo of the
    sources tagged with the state, else the style's tempo."""
    out: dict[str, float] = {}
    for state in style.states:
        given = extras.get("states", {}).get(state, {}).get("tempo")
        if given is not None:
            out[state] = float(given)
            continue
        tempos = [
            imp.tempo for imp in imported if state in imp.source.states and imp.tempo is not None
        ]
        out[state] = round(float(np.median(tempos)), 2) if tempos else float(style.tempo)
    return out


def training_environment(threads: int) -> dict[str, Any]:
    """What the models were trained on, so a rebake that differs can be explained."""
    import onnx
    import onnxruntime
    import torch

    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                wanted = ("avx", "avx2", "avx512f", "fma", "sse4_2", "amx_tile", "avx_vnni")
                flags = [f for f in line.split(":", 1)[1].split() if f in wanted]
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": sorted(flags),
        "torch_threads": threads,
        "deterministic": True,
    }


def prepare_jobs(
    style: Style,
    config: TrainingConfig,
    imported: list[ImportedSource],
    state_tempo: Mapping[str, float] | None = None,
) -> list[RoleJob]:
    """One job per role the style plays: harmony always, melody/bass/drums when a stem has it."""
    from ._train.harmony import ChordSequence
    from ._train.sequence import build_windows

    states = style.trained_states()  # a state that borrows material is not trained
    vocab = Vocabulary.default()
    spb = style.meter.steps_per_bar
    jobs: list[RoleJob] = []

    def rng(k: int) -> np.random.Generator:  # parity inputs: deterministic, one stream per role
        return np.random.default_rng([config.seed, k])

    def random_cond(r: np.random.Generator, k: int, size: int) -> np.ndarray:
        return r.uniform(0, 1, (k, size)).astype(np.float32)

    # --- harmony -----------------------------------------------------------------------
    harmony_features = condition_features(states)
    sequences = [
        ChordSequence(
            tuple(bar.chord for bar in imp.bars if bar.chord >= 0), state, imp.key.mode == "minor"
        )
        for imp in imported
        for state in imp.source.states
    ]
    r = rng(0)
    feeds = []
    size = len(harmony_features)
    for k in range(4):
        cond = random_cond(r, 1, size)
        lo = harmony_features.index(f"state:{states[0]}")
        cond[:, lo : lo + len(states)] = 0.0
        if k < 3:  # one-hot states, and one feed with no state at all
            cond[0, lo + k % len(states)] = 1.0
        feeds.append({"context": r.integers(0, 25, (1, 2)).astype(np.int64), "cond": cond})
    harmony_meta = {
        "orders": [0, 1, 2],
        "smoothing": config.harmony_smoothing,
        "backoff": config.harmony_backoff,
        "mood": "valence blends the minor-key (0) and major-key (1) tables",
        "temperature": config.harmony_temperature,
        "rhythms": _harmony_rhythms(style, imported),
        "state_tempo": dict(state_tempo or {}),
    }
    jobs.append(
        RoleJob(
            role="harmony",
            kind="harmony",
            models=("harmony",),
            config=config,
            seed=config.seed,
            data=(sequences, states),
            features=harmony_features,
            feeds={"harmony": feeds},
            meta={"harmony": harmony_meta},
            arch=(len(harmony_features),),
        )
    )

    # --- melody and bass ----------------------------------------------------------------
    features = condition_features(states, ATTRIBUTES)
    for offset, role in enumerate(("melody", "bass"), start=1):
        stems = style.stems_with_role(role)
        if not stems:
            continue
        corpus = _role_attributes(imported, stems, spb, drums=False)
        heard_from = _heard_from(style, stems)
        runs = []
        pitches: list[int] = []
        for imp in imported:
            for stem in stems:
                if stem not in imp.stems:
                    continue
                bar_tokens = [vocab.encode_bar(bar.stems[stem], spb) for bar in imp.bars]
                pitches += [n.pitch for bar in imp.bars for n in bar.stems[stem]]
                raw = np.stack([bar_attributes(bar.stems[stem], spb) for bar in imp.bars])
                ranks = ranks_of(raw, corpus)
                for state in imp.source.states:
                    conds = [
                        _cond(features, imp, state, bar, ranks[b]) for b, bar in enumerate(imp.bars)
                    ]
                    runs.append((bar_tokens, conds))
        data = build_windows(runs, config.window_bars, vocab, (min(pitches), max(pitches)))
        # each stem of each source, bar by bar: what the sampling's priors learn from
        lines = [
            [bar.stems[s] for bar in imp.bars] for imp in imported for s in stems if s in imp.stems
        ]
        target = scale_target(
            [notes for line in lines for notes in line],
            [
                (state, style.states[state].valence, style.states[state].arousal, chords)
                for imp in imported
                for chords in [[bar.chord for bar in imp.bars if bar.chord >= 0]]
                for state in imp.source.states
            ],
            heard_from,
            lines,
        )
        h = config.sequence_hidden
        r = rng(offset)
        feeds = [
            {
                "token": r.integers(0, len(vocab), (1,)).astype(np.int64),
                "cond": random_cond(r, 1, len(features)),
                "hidden": r.normal(0, 0.5, (1, h)).astype(np.float32),
            }
            for _ in range(4)
        ]
        meta = {
            "hidden_size": h,
            "pitch_range": list(data.pitch_range),
            "steps_per_bar": spb,
            "attributes": _attribute_spec(corpus, heard_from),
            "sampling": {
                **_sampling(config, pitches, lines),
                "presence": _presence(style, imported, stems, spb, config.phrase_rests),
                "presence_from": round(heard_from, 4),
            },
        }
        jobs.append(
            RoleJob(
                role=role,
                kind="sequence",
                models=(role,),
                config=config,
                seed=config.seed + offset,
                data=data,
                features=features,
                feeds={role: feeds},
                meta={role: meta},
                arch=(len(vocab), len(features), config.sequence_embed, h),
                steps=config.sequence_steps,
                epoch_size=len(data) / min(config.sequence_batch, len(data)),
                calibration=target,
            )
        )

    # --- drums --------------------------------------------------------------------------
    drum_stems = style.stems_with_role("drums")
    if drum_stems:
        drum_data, groove_meta, drum_spec = _drum_data(style, imported, drum_stems, config.seed)
        features = condition_features(states, ATTRIBUTES, grooves=len(groove_meta))
        z_size = config.drums_latent
        voices = [name for name, _ in DRUM_VOICES]
        c_size = len(features)
        r = rng(3)
        generator_feeds = [
            {"z": r.normal(0, 1, (k, z_size)).astype(np.float32), "cond": random_cond(r, k, c_size)}
            for k in (4, 1, 7)
        ]
        critic_feeds = []
        for k in (4, 1, 7):
            onset = (r.uniform(0, 1, (k, len(voices), spb)) < 0.3).astype(np.float32)
            velocity = (r.uniform(0, 1, onset.shape) * onset).astype(np.float32)
            critic_feeds.append(
                {"onset": onset, "velocity": velocity, "cond": random_cond(r, k, c_size)}
            )
        jobs.append(
            RoleJob(
                role="drums",
                kind="drums",
                models=("drums_generator", "drums_critic"),
                config=config,
                seed=config.seed + 3,
                data=drum_data,
                features=features,
                feeds={"drums_generator": generator_feeds, "drums_critic": critic_feeds},
                meta={
                    "drums_generator": {
                        "latent_size": z_size,
                        "steps": spb,
                        "voices": voices,
                        "hidden_size": config.drums_hidden,
                        "attributes": drum_spec,
                        "grooves": groove_meta,
                        "candidates": config.drums_candidates,
                    },
                    # The critic was trained on sampled hits, so score sampled hits too.
                    "drums_critic": {
                        "steps": spb,
                        "voices": voices,
                        "onset_input": "sampled 0/1 hits, velocity * hits",
                    },
                },
                arch=(z_size, c_size, config.drums_hidden, len(voices), spb),
                steps=config.drums_steps,
                epoch_size=len(drum_data) / config.drums_batch,
            )
        )
    return jobs


def _role_attributes(
    imported: list[ImportedSource], stems: list[str], spb: int, drums: bool
) -> np.ndarray:
    """Raw attributes [bars, A] of every bar of every stem of one role: the ranking corpus."""
    rows = [
        bar_attributes(bar.stems[stem], spb, drums=drums)
        for imp in imported
        for stem in stems
        if stem in imp.stems
        for bar in imp.bars
    ]
    return np.stack(rows) if rows else np.zeros((1, len(ATTRIBUTES)))


def _attribute_spec(corpus: np.ndarray, heard_from: float = 0.0) -> dict[str, Any]:
    """How the runtime turns intensity / valence / arousal into target attribute ranks.

    Intensity drives the density rank from the corpus' 5th to its 95th
    percentile over the intensities where the stem is heard (``heard_from``, where
    the style fades it in, up to 1), so the music a player hears spans the
    sources; below that it thins on towards the sparsest bar, still rising with
    intensity. Every other intensity-driven attribute follows density the way it
    co-varies with density in this corpus (a least-squares line of its rank on
    the density rank), so the targets stay a combination the sources contain.
    Register follows valence (brighter = higher), within the middle of its range.
    """
    ranks = ranks_of(corpus, corpus)
    if (corpus[:, 0] > 0).sum() > 1:  # the lines are fitted on the bars where the stem plays
        ranks = ranks[corpus[:, 0] > 0]
    density = ranks[:, 0]
    lo, hi = INTENSITY_RANKS
    knee = float(np.clip(heard_from, 0.0, 0.9))
    # density rank at intensity 0, at the knee and at 1
    points = (0.0, lo, hi) if knee > 0 else (lo, lo, hi)

    def line(at: Sequence[float]) -> list[Any]:
        values = [round(float(v), 4) for v in at]
        if knee > 0:
            return [values[0], values[2], "intensity", round(knee, 4), values[1]]
        return [values[0], values[2], "intensity"]

    control: dict[str, list[Any]] = {"density": line(points)}
    for a, name in enumerate(ATTRIBUTES):
        if name in ("density", "register"):
            continue
        column = ranks[:, a]
        if np.std(density) > 1e-9 and np.std(column) > 1e-9:
            slope, intercept = np.polyfit(density, column, 1)
        else:
            slope, intercept = 0.0, float(np.mean(column))
        control[name] = line([float(np.clip(intercept + slope * x, 0.0, 1.0)) for x in points])
    control["register"] = [*REGISTER_RANKS, "valence"]
    return {
        "names": list(ATTRIBUTES),
        "quantiles": rank_table(corpus),
        "control": control,
        "arousal_shift": AROUSAL_SHIFT,
    }


def _heard_from(style: Style, stems: Sequence[str]) -> float:
    """The intensity from which the first of these stems is faded in."""
    return min((float(style.stems[s].intensity[0]) for s in stems), default=0.0)


def _notes_per_onset(bars: Iterable[Sequence[Note]]) -> int:
    """How many notes may share an onset: the 90th percentile over the sources' onsets
    (1 for a line; 2 for one doubled at the octave or in thirds), at most 4."""
    counts = [
        len({n.pitch for n in notes if n.start == start})
        for notes in bars
        for start in {n.start for n in notes}
    ]
    return int(min(MAX_NOTES_PER_ONSET, np.percentile(counts, 90))) if counts else 1


def _presence(
    style: Style, imported: list[ImportedSource], stems: Sequence[str], spb: int, keep: float
) -> list[float]:
    """How often a role plays a bar (rather than sitting it out) in its sources, by how
    busy the rest of the arrangement is there: PRESENCE_BINS values, from the sparsest
    fifth of the sources' bars to the busiest. A bar's busyness is the mean density
    rank of the other stems (0 where they rest); the runtime reads it off intensity.
    ``keep`` scales the rests (0: the role always plays). Add-one smoothed, and made
    non-decreasing."""
    others = [s for s in style.stems if s not in stems]
    # each other stem's raw attributes, bar by bar per source: measured once, they are
    # both the stem's ranking corpus and what is ranked in it
    raw = {
        s: {
            k: np.stack(
                [bar_attributes(b.stems[s], spb, style.stems[s].role == "drums") for b in imp.bars]
            )
            for k, imp in enumerate(imported)
            if s in imp.stems
        }
        for s in others
    }
    corpora = {s: np.concatenate(list(rows.values())) for s, rows in raw.items() if rows}
    levels: list[float] = []
    plays: list[bool] = []
    for k, imp in enumerate(imported):
        present = [s for s in stems if s in imp.stems]
        if not present:
            continue
        ranked = [ranks_of(rows[k], corpora[s])[:, 0] for s, rows in raw.items() if k in rows]
        busy = np.mean(ranked, axis=0) if ranked else np.zeros(len(imp.bars))
        levels += [float(x) for x in busy]
        plays += [any(bar.stems[s] for s in present) for bar in imp.bars]
    if not plays:
        return [1.0] * PRESENCE_BINS
    order = np.argsort(np.asarray(levels), kind="stable")
    played = np.asarray(plays, dtype=np.float64)[order]
    shares = [
        (part.sum() + 1.0) / (len(part) + 2.0) for part in np.array_split(played, PRESENCE_BINS)
    ]
    return [round(float(1.0 - keep * (1.0 - p)), 4) for p in _rising(shares)]


def _rising(values: Sequence[float]) -> list[float]:
    """The closest non-decreasing sequence (pool-adjacent-violators, equal weights): a
    busier arrangement never makes a stem likelier to rest."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in values:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, n1), (m2, n2) = blocks.pop(-2), blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return [m for m, n in blocks for _ in range(int(n))]


def _interval_prior(lines: Iterable[Sequence[Sequence[Note]]]) -> list[float]:
    """Log-weights of the leap between a note and the one before it in the sources
    (0 to MAX_INTERVAL semitones, the last for any larger), in the order the models
    write notes: by onset, then low to high within one."""
    histogram = np.ones(MAX_INTERVAL + 1)  # add-one: no leap is impossible
    for bars in lines:
        pitches = [
            n.pitch for notes in bars for n in sorted(notes, key=lambda n: (n.start, n.pitch))
        ]
        leaps = np.minimum(np.abs(np.diff(np.asarray(pitches, dtype=np.int64))), MAX_INTERVAL)
        histogram += np.bincount(leaps, minlength=MAX_INTERVAL + 1)
    return [round(float(v), 4) for v in np.log(histogram / histogram.max())]


def _sampling(
    config: TrainingConfig,
    pitches: list[int],
    lines: Sequence[Sequence[Sequence[Note]]] = (),
) -> dict[str, Any]:
    """Sampling settings for the runtime, with soft priors learned from the sources: the
    pitch classes of ``pitches``, and the leaps and chords of ``lines`` (each one stem of
    one source, bar by bar)."""
    histogram = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12) + 1.0
    log_prior = np.log(histogram / histogram.max())
    return {
        "notes_per_onset": _notes_per_onset(notes for line in lines for notes in line),
        "interval_prior": _interval_prior(lines),
        "interval_prior_weight": config.interval_prior_weight,
        "temperature": config.sampling_temperature,
        "top_p": config.sampling_top_p,
        "scale_prior": [round(float(v), 4) for v in log_prior],
        "scale_prior_weight": config.scale_prior_weight,
        "chord_tone_bias": config.chord_tone_bias,
        "motif_copy": config.motif_copy,
    }


def _harmony_rhythms(style: Style, imported: list[ImportedSource]) -> list[dict[str, Any]]:
    """The harmony stems' most common onset patterns per bar, sparsest first.

    The runtime strikes the voiced chord on each onset of the pattern it picks
    (busier patterns at higher intensity). A style without a harmony stem, or
    whose harmony never plays, gets one whole-bar chord.
    """
    stems = style.stems_with_role("harmony")
    counts: dict[tuple[int, ...], int] = {}
    spb = style.meter.steps_per_bar
    for imp in imported:
        for stem in stems:
            if stem not in imp.stems:
                continue
            for bar in imp.bars:
                onsets = tuple(sorted({n.start for n in bar.stems[stem] if n.start < spb}))
                if onsets:
                    counts[onsets] = counts.get(onsets, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_RHYTHMS]
    if not top:
        top = [((0,), 1)]
    top.sort(key=lambda kv: (len(kv[0]), kv[0]))
    return [{"onsets": list(onsets), "count": count} for onsets, count in top]


def _drum_data(
    style: Style, imported: list[ImportedSource], stems: list[str], seed: int
) -> tuple[DrumData, list[dict[str, Any]], dict[str, Any]]:
    """The drum bars, their conditioning (attribute ranks, groove, state, mood),
    the groove table the runtime picks from, and the attribute spec (meta)."""
    from ._train.drums import DrumData

    states = style.trained_states()  # a state that borrows material is not trained
    spb = style.meter.steps_per_bar
    onsets, velocities, timings, raws, labels = [], [], [], [], []
    for imp in imported:
        for stem in stems:
            if stem not in imp.stems:
                continue
            for b, bar in enumerate(imp.bars):
                onset = np.zeros((len(DRUM_VOICES), spb), dtype=np.float32)
                velocity = np.zeros_like(onset)
                timing = np.zeros_like(onset)
                for note, offset in zip(bar.stems[stem], imp.timing[stem][b], strict=True):
                    row = drum_voice(note.pitch)
                    if row is None or note.start >= spb:
                        continue
                    # Two hits of one voice on one step: keep the louder one.
                    if note.velocity / 127 > velocity[row, note.start]:
                        onset[row, note.start] = 1.0
                        velocity[row, note.start] = note.velocity / 127
                        timing[row, note.start] = offset
                onsets.append(onset)
                velocities.append(velocity)
                timings.append(timing)
                raws.append(bar_attributes(bar.stems[stem], spb, drums=True))
                labels.append((imp, bar))
    corpus = np.stack(raws)
    ranks = ranks_of(corpus, corpus)
    grooves = _groove_labels(np.stack(onsets), seed)
    n_grooves = int(grooves.max()) + 1
    features = condition_features(states, ATTRIBUTES, grooves=n_grooves)
    rows: list[int] = []
    conds = []
    per_state = np.zeros((n_grooves, len(states)))
    for i, (imp, bar) in enumerate(labels):
        for state in imp.source.states:
            rows.append(i)
            per_state[grooves[i], states.index(state)] += 1
            conds.append(_cond(features, imp, state, bar, ranks[i], int(grooves[i])))
    groove_meta = [
        {
            "density_rank": round(float(ranks[grooves == g, 0].mean()), 4),
            "states": {s: int(per_state[g, k]) for k, s in enumerate(states)},
        }
        for g in range(n_grooves)
    ]
    index = np.asarray(rows)
    spec = _attribute_spec(corpus, _heard_from(style, stems))
    # what the runtime asks for along the intensity range (register follows valence,
    # so it keeps the bar's own), and the onset count at each density target
    steered = [a for a in ATTRIBUTES if a != "register"]
    control = np.array(
        [
            [attribute_targets(spec, float(u), 0.5)[a] for a in steered]
            for u in np.linspace(0.0, 1.0, CONTROL_ROWS)
        ]
    )
    counts = np.stack(onsets).sum(axis=(1, 2))
    counts = counts[counts > 0] if (counts > 0).any() else counts  # ranks count playing bars
    levels = np.linspace(0.0, 1.0, CONTROL_ROWS)
    table = np.quantile(counts, levels)
    data = DrumData(
        np.stack(onsets)[index],
        np.stack(velocities)[index],
        np.stack(timings)[index],
        np.stack(conds).astype(np.float32),
        control=control.astype(np.float32),
        control_columns=tuple(features.index(f"attr:{a}") for a in steered),
        control_counts=np.interp(control[:, 0], levels, table).astype(np.float32),
    )
    return data, groove_meta, spec


def _groove_labels(onsets: np.ndarray, seed: int) -> np.ndarray:
    """Cluster the drum bars' onset grids into up to MAX_GROOVES grooves (k-means,
    deterministic k-means++ seeding); a groove label is a bar's cluster."""
    flat = onsets.reshape(len(onsets), -1).astype(np.float64)
    k = min(MAX_GROOVES, len(np.unique(flat, axis=0)))
    rng = np.random.default_rng(seed)
    centres = [flat[rng.integers(len(flat))]]
    for _ in range(1, k):
        d = np.min([((flat - c) ** 2).sum(axis=1) for c in centres], axis=0)
        if d.sum() <= 0:
            break
        centres.append(flat[rng.choice(len(flat), p=d / d.sum())])
    centre = np.stack(centres)
    labels = np.zeros(len(flat), dtype=np.int64)
    for _ in range(20):
        labels = ((flat[:, None, :] - centre[None]) ** 2).sum(axis=2).argmin(axis=1)
        for g in range(len(centre)):
            if (labels == g).any():
                centre[g] = flat[labels == g].mean(axis=0)
    used = np.unique(labels)  # relabel 0..k-1 with no empty cluster
    return np.searchsorted(used, labels)


def _provenance(style: Style, source: SourceSpec, sha256: str) -> ProvenanceEntry:
    """A source's credit: its path relative to the style, its digest, licence and attribution."""
    try:
        relative = Path(os.path.relpath(source.path, style.path.resolve().parent)).as_posix()
    except ValueError:  # another drive on Windows
        relative = source.path.as_posix()
    return ProvenanceEntry(
        file=relative, sha256=sha256, license=source.license, attribution=source.attribution
    )


def _manifest(
    style: Style,
    config: TrainingConfig,
    imported: list[ImportedSource],
    losses: Mapping[str, float],
    seconds: float,
) -> Manifest:
    """The bundle's typed manifest: the style's shared fields plus what the bake learned."""
    provenance = [_provenance(style, imp.source, _sha256_file(imp.source.path)) for imp in imported]
    import torch  # already loaded by the bake; recorded so a bundle says what trained it

    shared = {f.name: getattr(style, f.name) for f in dataclasses.fields(Music)}
    return Manifest(
        **shared,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        vocabulary=Vocabulary.default().tokens,
        conditioning=tuple(condition_features(style.trained_states())),
        provenance=tuple(provenance),
        training=TrainingRecord(
            config=config.to_dict(),
            losses={k: float(v) for k, v in losses.items()},
            seconds=round(seconds, 3),
            environment={
                "torch": torch.__version__,
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
        ),
    )


# --- a new manifest over the models of an earlier bake ---------------------------------------


def rebake_manifest(
    style_path: str | os.PathLike[str],
    old_bundle: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    calibrate_loudness: bool = True,
) -> str:
    """Write a bundle whose manifest comes from the style and whose models are ``old_bundle``'s.

    SoundFont presets are copied again from the style's files, and the master gain is
    calibrated again to ``mix.loudness_lufs`` (as ``bake`` does), unless
    ``calibrate_loudness`` is False.

    For edits that need no training: the mix, stem gains and fades, states (a new state
    borrows a trained state's ``material``), parameters, stingers, transitions, credits.
    The models, their conditioning, the training record and the bake time are kept. It
    refuses, naming the style file and field, a style whose models would differ: another
    meter, other sources, another ``[training]`` value, or a new state that borrows no
    trained state's material. Returns the new bundle's sha256; ``out_path`` may be
    ``old_bundle`` (written atomically; on failure the file there stays as it was).

    The default bundle was re-baked this way after its style gained danger, victory and
    game over::

        adaptive bake examples/default/style.toml \\
            --reuse-models adaptive/data/default.adaptive -o adaptive/data/default.adaptive
    """
    out = check_out_path(out_path)
    style, extras = _load_style_with_extras(Path(style_path))
    style, moods = _apply_moods(style, extras)
    old = read_bundle(old_bundle)
    trained = old.spec

    def fail(where: str, message: str) -> StyleError:
        return StyleError(f"{style.path}: field '{where}': {message}")

    if style.meter != trained.meter:
        raise fail(
            "style.meter", f"is {style.meter}; the models of {old.path} play {trained.meter}"
        )
    for key, value in style.training.items():
        if (trained.training.config or {}).get(key) != value:
            raise fail(
                f"training.{key}",
                f"is {value!r}; the models of {old.path} were trained with "
                f"{(trained.training.config or {}).get(key)!r}: bake again to train with it",
            )
    provenance = _reused_provenance(style, trained, fail)
    shared = {f.name: getattr(style, f.name) for f in dataclasses.fields(Music)}
    manifest = Manifest(
        **shared,
        created=trained.created,
        vocabulary=trained.vocabulary,
        conditioning=trained.conditioning,
        provenance=provenance,
        training=dataclasses.replace(trained.training, moods=moods),
    )
    try:  # names the style's field, e.g. a new state that borrows no trained material
        check_links(manifest)
    except SchemaError as exc:
        raise fail(exc.where, exc.message) from None
    samplers, soundfonts = _soundfont_presets(style, Progress(False))
    if soundfonts:
        manifest = dataclasses.replace(manifest, provenance=(*manifest.provenance, *soundfonts))
    if calibrate_loudness:
        manifest, _ = calibrated_manifest(manifest, old.models, samplers)
    return write_bundle(out, manifest, old.models, samplers)


def _reused_provenance(
    style: Style, trained: Manifest, fail: Callable[[str, str], StyleError]
) -> tuple[ProvenanceEntry, ...]:
    """The style's credits for the sources the models learned from; the sources must be those."""
    learned = {entry.sha256 for entry in trained.provenance}
    skipped = set(trained.training.skipped_sources)
    out = []
    for i, source in enumerate(style.sources):
        digest = _sha256_file(source.path)
        if digest in learned:
            out.append(_provenance(style, source, digest))
        elif source.path.name not in skipped:
            raise fail(
                f"sources[{i}].file",
                f"{source.path.name} is not a source the models were trained on; "
                "bake again to learn from it",
            )
    missing = learned - {entry.sha256 for entry in out}
    if missing:
        names = [e.file for e in trained.provenance if e.sha256 in missing]
        raise fail(
            "sources",
            f"leaves out {len(names)} source(s) the models were trained on "
            f"({', '.join(names[:3])}); bake again to train without them",
        )
    return tuple(out)
