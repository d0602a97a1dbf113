"""The per-role models: harmony Markov tables, GRU sequence model, drums GAN, ONNX export."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from adaptive._conditioning import ATTRIBUTES, condition_features, encode_condition
from adaptive._music import CHORDS, DRUM_VOICES, START_CHORD, Chord
from adaptive._tokens import Vocabulary
from authoring import TrainingConfig
from authoring._export import PARITY_TOLERANCE, ExportError, export_model
from authoring._train.drums import DrumData, train_drums
from authoring._train.harmony import DIATONIC_CYCLE, ChordSequence, count_tables, fit_harmony
from authoring._train.sequence import SequenceData, SequenceStep, build_windows, train_sequence

STATES = ["explore", "combat"]
FEATURES = condition_features(STATES)
C, AM, F, G, DM, E = (
    Chord(0, "maj").index,
    Chord(9, "min").index,
    Chord(5, "maj").index,
    Chord(7, "maj").index,
    Chord(2, "min").index,
    Chord(4, "maj").index,
)


def state_cond(state: str | None) -> np.ndarray:
    cond = np.zeros((1, len(FEATURES)), dtype=np.float32)
    if state is not None:
        cond[0, FEATURES.index(f"state:{state}")] = 1.0
    return cond


def harmony_probs(model: nn.Module, prev2: int, prev1: int, state: str | None) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.tensor([[prev2, prev1]]), torch.from_numpy(state_cond(state)))
    return out.numpy()[0]


@pytest.fixture(scope="module")
def harmony_model() -> nn.Module:
    sequences = [
        ChordSequence((C, AM, F, G) * 6, "explore"),
        ChordSequence((AM, DM, E, AM) * 6, "combat"),
    ]
    model, loss = fit_harmony(sequences, FEATURES, STATES, TrainingConfig())
    assert 0.0 < loss < 1.0  # the data is almost deterministic
    return model


def test_harmony_probs_sum_to_one_for_every_context(harmony_model: nn.Module) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        prev2, prev1 = (int(x) for x in rng.integers(0, START_CHORD + 1, 2))
        for state in (*STATES, None):
            probs = harmony_probs(harmony_model, prev2, prev1, state)
            assert probs.shape == (len(CHORDS),)
            assert probs.min() > 0.0
            assert probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_harmony_follows_the_data_per_state(harmony_model: nn.Module) -> None:
    assert harmony_probs(harmony_model, C, AM, "explore").argmax() == F
    assert harmony_probs(harmony_model, AM, F, "explore").argmax() == G
    assert harmony_probs(harmony_model, START_CHORD, START_CHORD, "explore").argmax() == C
    assert harmony_probs(harmony_model, START_CHORD, START_CHORD, "combat").argmax() == AM
    assert harmony_probs(harmony_model, AM, DM, "combat").argmax() == E
    # The same context means different things in different states.
    explore = harmony_probs(harmony_model, G, C, "explore")
    combat = harmony_probs(harmony_model, G, C, "combat")
    assert explore.argmax() == AM and explore[AM] > combat[AM]
    # An unseen trigram backs off to the bigram: after Am comes F (explore) or Dm (combat).
    assert harmony_probs(harmony_model, E, AM, "explore").argmax() == F
    assert harmony_probs(harmony_model, G, AM, "combat").argmax() == DM


def test_harmony_without_data_uses_the_diatonic_cycle() -> None:
    c0, c1, _ = count_tables([], STATES)
    assert c0.sum() > 0 and set(np.flatnonzero(c0[0])) == set(DIATONIC_CYCLE)
    model, _ = fit_harmony([], FEATURES, STATES, TrainingConfig())
    assert harmony_probs(model, C, AM, "combat").argmax() == F
    # A state with no sources borrows everyone's counts instead of being uniform.
    model, _ = fit_harmony(
        [ChordSequence((C, G) * 4, "explore")], FEATURES, STATES, TrainingConfig()
    )
    assert harmony_probs(model, START_CHORD, C, "combat").argmax() == G


def test_harmony_onnx_parity(harmony_model: nn.Module) -> None:
    rng = np.random.default_rng(1)
    feeds = [
        {
            "context": rng.integers(0, START_CHORD + 1, (1, 2)).astype(np.int64),
            "cond": state_cond(STATES[i % 2]),
        }
        for i in range(5)
    ]
    entry, diff = export_model(
        harmony_model,
        name="harmony",
        role="harmony",
        inputs=feeds,
        output_names=("probs",),
        conditioning=FEATURES,
        meta={},
    )
    assert diff < PARITY_TOLERANCE
    session = ort.InferenceSession(entry.onnx, providers=["CPUExecutionProvider"])
    for feed in feeds:
        (probs,) = session.run(["probs"], feed)
        with torch.no_grad():
            want = harmony_model(torch.from_numpy(feed["context"]), torch.from_numpy(feed["cond"]))
        assert probs.shape == (1, len(CHORDS))
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(probs, want.numpy(), atol=1e-6)
    assert [t.name for t in entry.inputs] == ["context", "cond"]
    assert [(t.dtype, t.shape) for t in entry.inputs] == [
        ("int64", (1, 2)),
        ("float32", (1, len(FEATURES))),
    ]


def _sequence_data(vocab: Vocabulary, bars: int = 16) -> SequenceData:
    from adaptive._music import Note

    runs = []
    for state, shift in (("explore", 0), ("combat", 7)):
        bar_tokens = []
        conds = []
        for b in range(bars):
            notes = [Note(60 + shift + (b % 4), i * 4, 4, 90) for i in range(4)]
            bar_tokens.append(vocab.encode_bar(notes, 16))
            conds.append(
                encode_condition(
                    FEATURES, intensity=0.5, valence=0.5, state=state, chord=C, bar_index=b
                )
            )
        runs.append((bar_tokens, conds))
    return build_windows(runs, 4, vocab, (60, 70))


def test_sequence_model_learns_and_step_matches_gru() -> None:
    vocab = Vocabulary.default()
    data = _sequence_data(vocab)
    config = TrainingConfig(
        sequence_hidden=32, sequence_embed=16, sequence_steps=120, sequence_batch=8
    )
    losses: list[float] = []
    model, final = train_sequence(
        data, vocab, config, seed=0, on_step=lambda s, t, loss: losses.append(loss)
    )
    assert len(losses) == 120 and final < losses[0] / 3
    # Stepping the exported cell token by token reproduces the trained nn.GRU exactly.
    step = SequenceStep(model)
    tokens = torch.from_numpy(data.tokens[:1, :20])
    cond = torch.from_numpy(data.cond[data.bar_rows[:1, :20]])
    with torch.no_grad():
        full = model(tokens, cond)[0]
        hidden = torch.zeros(1, config.sequence_hidden)
        for t in range(20):
            logits, hidden = step(tokens[0, t : t + 1], cond[0, t : t + 1], hidden)
            assert torch.allclose(logits[0], full[t], atol=1e-5)
    # The trained model predicts the data: after BAR comes POS_0 of the first note.
    with torch.no_grad():
        logits, _ = step(
            torch.tensor([vocab.bar]), cond[0, :1], torch.zeros(1, config.sequence_hidden)
        )
    assert int(logits.argmax()) == vocab.pos_offset + 0


def test_sequence_onnx_parity() -> None:
    vocab = Vocabulary.default()
    data = _sequence_data(vocab, bars=4)
    config = TrainingConfig(sequence_hidden=24, sequence_embed=8, sequence_steps=5)
    model, _ = train_sequence(data, vocab, config, seed=3)
    rng = np.random.default_rng(0)
    feeds: list[dict[str, np.ndarray]] = [
        {
            "token": rng.integers(0, len(vocab), (1,)).astype(np.int64),
            "cond": rng.uniform(0, 1, (1, len(FEATURES))).astype(np.float32),
            "hidden": rng.normal(0, 0.5, (1, 24)).astype(np.float32),
        }
        for _ in range(5)
    ]
    entry, diff = export_model(
        SequenceStep(model),
        name="melody",
        role="sequence",
        inputs=feeds,
        output_names=("logits", "hidden_out"),
        conditioning=FEATURES,
        meta={"hidden_size": 24},
    )
    assert diff < PARITY_TOLERANCE
    assert [(t.name, t.shape) for t in entry.outputs] == [
        ("logits", (1, len(vocab))),
        ("hidden_out", (1, 24)),
    ]


def _grooves(n: int = 64) -> DrumData:
    voices, steps = len(DRUM_VOICES), 16
    onset = np.zeros((n, voices, steps), dtype=np.float32)
    velocity = np.zeros_like(onset)
    timing = np.zeros_like(onset)
    conds = []
    for i in range(n):
        busy = i % 2 == 1
        onset[i, 0, [0, 8] + ([6, 10] if busy else [])] = 1  # kick
        onset[i, 1, [4, 12]] = 1  # snare
        onset[i, 2, list(range(0, 16, 1 if busy else 2))] = 1  # hats
        velocity[i] = onset[i] * (0.9 if busy else 0.6)
        timing[i, 1] = onset[i, 1] * 0.1  # laid-back snare
        conds.append(
            encode_condition(
                FEATURES,
                intensity=0.9 if busy else 0.2,
                valence=0.5,
                state="combat" if busy else "explore",
                chord=C,
                bar_index=i,
            )
        )
    return DrumData(onset, velocity, timing, np.stack(conds).astype(np.float32))


@pytest.fixture(scope="module")
def trained_gan() -> tuple[nn.Module, nn.Module, DrumData]:
    data = _grooves()
    config = TrainingConfig(drums_latent=8, drums_hidden=64, drums_steps=300, drums_batch=32)
    generator, critic, g_loss, d_loss = train_drums(data, config, seed=0)
    assert np.isfinite(g_loss) and np.isfinite(d_loss)
    return generator, critic, data


def test_gan_generator_shapes_ranges_and_grooves(
    trained_gan: tuple[nn.Module, nn.Module, DrumData],
) -> None:
    generator, critic, data = trained_gan
    k = 5
    with torch.no_grad():
        for row in (0, 1):  # explore (sparse) and combat (busy)
            cond = torch.from_numpy(np.repeat(data.cond[row : row + 1], k, axis=0))
            onset, velocity, timing = generator(torch.randn(k, 8), cond)
            for out in (onset, velocity, timing):
                assert out.shape == (k, len(DRUM_VOICES), 16)
            assert 0.0 <= float(onset.min()) and float(onset.max()) <= 1.0
            assert 0.0 <= float(velocity.min()) and float(velocity.max()) <= 1.0
            assert -0.5 <= float(timing.min()) and float(timing.max()) <= 0.5
            # The grooves are learned: snare on beats 2 and 4, no snare on the downbeat.
            assert float(onset[:, 1, 4].mean()) > 0.8 and float(onset[:, 1, 12].mean()) > 0.8
            assert float(onset[:, 1, 0].mean()) < 0.2
            hats_offbeat = float(onset[:, 2, 1].mean())
            assert hats_offbeat > 0.7 if row == 1 else hats_offbeat < 0.3
            score = critic(onset.round(), velocity * onset.round(), cond)
            assert score.shape == (k, 1)


def test_gan_critic_prefers_real_grooves(
    trained_gan: tuple[nn.Module, nn.Module, DrumData],
) -> None:
    _, critic, data = trained_gan
    rng = np.random.default_rng(0)
    onset = torch.from_numpy(data.onset)
    velocity = torch.from_numpy(data.velocity)
    cond = torch.from_numpy(data.cond)
    noise = torch.from_numpy((rng.uniform(0, 1, data.onset.shape) < 0.3).astype(np.float32))
    with torch.no_grad():
        real = critic(onset, velocity, cond).mean()
        fake = critic(noise, noise * 0.7, cond).mean()
    assert float(real) > float(fake)


def test_gan_control_term_lets_the_density_target_rule_every_state() -> None:
    """Explore bars are all sparse and combat bars all busy; asked for a sparse bar in
    combat (a condition the sources never show), the generator obeys the target."""
    features = condition_features(STATES, ATTRIBUTES)
    voices, steps, n = len(DRUM_VOICES), 16, 64
    onset = np.zeros((n, voices, steps), dtype=np.float32)
    conds = []
    for i in range(n):
        busy = i % 2 == 1
        onset[i, 0, [0, 8]] = 1
        onset[i, 1, [4, 12]] = 1
        onset[i, 2, list(range(0, 16, 1 if busy else 4))] = 1
        rank = 0.75 if busy else 0.25
        conds.append(
            encode_condition(
                features,
                intensity=0.5,
                valence=0.5,
                state="combat" if busy else "explore",
                chord=C,
                bar_index=i,
                attributes={"density": rank, "activity": rank},
            )
        )
    levels = np.linspace(0.0, 1.0, 11)[:, None]
    data = DrumData(
        onset,
        onset * 0.8,
        np.zeros_like(onset),
        np.stack(conds).astype(np.float32),
        control=np.hstack([levels, levels]).astype(np.float32),
        control_columns=(features.index("attr:density"), features.index("attr:activity")),
        control_counts=(4 + 16 * levels[:, 0]).astype(np.float32),
    )
    config = TrainingConfig(drums_latent=8, drums_hidden=64, drums_steps=300, drums_batch=32)

    def hits_in_combat(weight: float, rank: float) -> float:
        generator, _, _, _ = train_drums(data, replace(config, drums_control_weight=weight), 0)
        cond = np.repeat(data.cond[1:2], 16, axis=0)
        cond[:, [features.index("attr:density"), features.index("attr:activity")]] = rank
        with torch.no_grad():
            p_onset, _, _ = generator(torch.randn(16, 8), torch.from_numpy(cond))
        return float(p_onset.sum(dim=(1, 2)).mean())

    busy_hits = float(onset[1].sum())  # 20
    assert hits_in_combat(1.0, 0.0) < 0.6 * busy_hits
    assert hits_in_combat(1.0, 0.0) < hits_in_combat(0.0, 0.0)


def test_gan_onnx_parity_with_dynamic_batch(
    trained_gan: tuple[nn.Module, nn.Module, DrumData],
) -> None:
    generator, critic, data = trained_gan
    rng = np.random.default_rng(2)
    feeds = [
        {"z": rng.normal(0, 1, (k, 8)).astype(np.float32), "cond": data.cond[:k].copy()}
        for k in (3, 1, 9)
    ]
    entry, diff = export_model(
        generator,
        name="drums_generator",
        role="drums",
        inputs=feeds,
        output_names=("onset", "velocity", "timing"),
        conditioning=FEATURES,
        meta={"latent_size": 8, "steps": 16},
        dynamic_batch=True,
    )
    assert diff < PARITY_TOLERANCE
    assert entry.inputs[0].shape == ("K", 8) and entry.outputs[0].shape == (
        "K",
        len(DRUM_VOICES),
        16,
    )
    feeds = [
        {
            "onset": data.onset[:k].copy(),
            "velocity": data.velocity[:k].copy(),
            "cond": data.cond[:k].copy(),
        }
        for k in (2, 5)
    ]
    entry, diff = export_model(
        critic,
        name="drums_critic",
        role="critic",
        inputs=feeds,
        output_names=("score",),
        conditioning=FEATURES,
        meta={},
        dynamic_batch=True,
    )
    assert diff < PARITY_TOLERANCE and entry.outputs[0].shape == ("K", 1)


class _BranchOnData(nn.Module):
    """Tracing records one branch only, so ONNX and torch disagree on other inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 if float(x.sum()) > 0 else x * 3.0


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_export_fails_loudly_on_parity_mismatch() -> None:
    feeds = [{"x": np.ones((1, 4), dtype=np.float32)}, {"x": -np.ones((1, 4), dtype=np.float32)}]
    with pytest.raises(
        ExportError, match=r"model 'bad': ONNX output differs from torch by 1 \(allowed < 0.0001\)"
    ):
        export_model(
            _BranchOnData(),
            name="bad",
            role="x",
            inputs=feeds,
            output_names=("y",),
            conditioning=(),
            meta={},
        )


# --- mood-conditioned harmony ------------------------------------------------------------


def test_harmony_follows_valence_between_minor_and_major_sources() -> None:
    sequences = [
        ChordSequence((C, F, G, C) * 6, "explore", minor=False),
        ChordSequence((AM, DM, E, AM) * 6, "explore", minor=True),
    ]
    model, _ = fit_harmony(sequences, FEATURES, STATES, TrainingConfig())

    def probs(valence: float) -> np.ndarray:
        cond = state_cond("explore")
        cond[0, FEATURES.index("valence")] = valence
        with torch.no_grad():
            return model(
                torch.tensor([[START_CHORD, START_CHORD]]), torch.from_numpy(cond)
            ).numpy()[0]

    dark, bright = probs(0.0), probs(1.0)
    assert dark.argmax() == AM and bright.argmax() == C
    minor = [c.index for c in CHORDS if c.quality == "min"]
    assert dark[minor].sum() > probs(0.5)[minor].sum() > bright[minor].sum()


# --- attributes ---------------------------------------------------------------------------


def test_bar_attributes_and_mid_ranks() -> None:
    from adaptive._conditioning import ATTRIBUTES, attribute_targets, bar_attributes, ranks_of
    from adaptive._music import Note

    chord_bar = [Note(p, 0, 16, 80) for p in (60, 64, 67)]
    run = [Note(72 + i, 2 * i, 2, 100) for i in range(8)]
    a, b = bar_attributes(chord_bar, 16), bar_attributes(run, 16)
    values = dict(zip(ATTRIBUTES, a, strict=True))
    assert values == {
        "density": 3,
        "polyphony": 3,
        "velocity": 80,
        "register": 191 / 3,
        "activity": 1 / 16,
    }
    assert b[0] == 8 and b[1] == 1 and b[4] == 0.5
    empty = bar_attributes([], 16)
    assert empty[0] == 0 and np.isnan(empty[3])
    corpus = np.stack([empty, empty, a, a, b])
    ranks = ranks_of(corpus, corpus)
    # a whole-bar rest is the stem sitting out: density and activity 0, the rest the middle
    assert list(ranks[0]) == [0.0, 0.5, 0.5, 0.5, 0.0]
    assert ranks[2, 0] == pytest.approx(1 / 3)  # playing bars rank among playing bars;
    assert ranks[4, 0] == pytest.approx(5 / 6)  # ties share the middle of their range
    spec = {
        "control": {"density": [0.1, 0.9, "intensity"], "register": [0.3, 0.7, "valence"]},
        "arousal_shift": 0.2,
    }
    low = attribute_targets(spec, 0.0, 0.0, 0.5)
    high = attribute_targets(spec, 1.0, 1.0, 1.0)
    assert low == pytest.approx({"density": 0.1, "register": 0.3})
    assert high == pytest.approx({"density": 1.0, "register": 0.7})


# --- mood from words ----------------------------------------------------------------------


def test_mood_words_become_valence_and_arousal() -> None:
    from authoring._mood import AFFECT_LEXICON, mood_from_text

    dark = mood_from_text("tense, dark, driving")
    calm = mood_from_text("Calm, bright and gentle")
    assert dark is not None and calm is not None
    assert dark.valence < 0.3 < 0.7 < calm.valence
    assert dark.arousal > 0.6 > 0.35 > calm.arousal
    assert mood_from_text("not happy").valence < 0.5 < mood_from_text("happy").valence
    assert mood_from_text("unsafe").valence < mood_from_text("safe").valence
    assert mood_from_text("xyzzy plugh") is None
    assert mood_from_text("dark xyzzy").unknown == ("xyzzy",)
    assert all(0 <= v <= 1 and 0 <= a <= 1 for v, a in AFFECT_LEXICON.values())


# --- bake: mood text, tempo per state, meters, environment, conditioning ------------------


def test_bake_reads_mood_tempo_and_skips_other_meters(tiny_style_dir, midi_writer) -> None:
    import warnings

    import mido

    import adaptive
    from authoring import bake
    from authoring._midi import MeterWarning

    style = tiny_style_dir / "style.toml"
    text = style.read_text()
    text = text.replace(
        "[states.combat]\nvalence = 0.2\narousal = 0.9",
        '[states.combat]\nvalence = 0.2\narousal = 0.9\nmood = "calm, bright, gentle"\ntempo = 96',
    )
    # a waltz the 4/4 style cannot play
    waltz = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=3, denominator=4)])
    for _ in range(6):
        track.append(mido.Message("note_on", note=60, velocity=90, time=0))
        track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    waltz.tracks.append(track)
    waltz.save(str(tiny_style_dir / "midi" / "waltz.mid"))
    text = text.replace(
        "[training]",
        '[[sources]]\nfile = "midi/waltz.mid"\nlicense = "CC0-1.0"\nattribution = "t"\n'
        'states = ["explore"]\nchannels = { melody = 1 }\n\n[training]',
    )
    style.write_text(text)
    out = tiny_style_dir / "mood.adaptive"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bake(style, out, progress=False)
    assert any(
        issubclass(w.category, MeterWarning) and "waltz.mid" in str(w.message) for w in caught
    )
    bundle = adaptive.load_bundle(out)
    training = bundle.manifest["training"]
    assert training["skipped_sources"] == ["waltz.mid"]
    assert "waltz.mid" not in {p["file"].split("/")[-1] for p in bundle.provenance}
    # the words replaced the numbers: "calm, bright, gentle" is bright and calm
    combat = bundle.states["combat"]
    assert combat["valence"] > 0.7 and combat["arousal"] < 0.3
    assert training["moods"]["combat"]["text"] == "calm, bright, gentle"
    # tempo per state: given for combat; explore's sources set none, so the style's
    assert training["state_tempo"] == {"explore": 120.0, "combat": 96.0}
    assert bundle.models["harmony"].meta["state_tempo"] == training["state_tempo"]
    env = training["environment"]
    assert env["torch"] == torch.__version__ and env["torch_threads"] == 1 and env["python"]
    # attribute-controlled models: conditioning and the intensity map are in the bundle
    for name in ("melody", "bass", "drums_generator"):
        entry = bundle.models[name]
        assert [f for f in entry.conditioning if f.startswith("attr:")] == [
            "attr:density",
            "attr:polyphony",
            "attr:velocity",
            "attr:register",
            "attr:activity",
        ]
        assert "intensity" not in entry.conditioning
        control = entry.meta["attributes"]["control"]
        # intensity spans the sources' density where the stem is heard (from its fade-in)
        role = name.removesuffix("_generator")
        heard = min(s["intensity"][0] for s in bundle.stems.values() if s["role"] == role)
        wanted = [0.05, 0.95, "intensity"] if heard == 0 else [0.0, 0.95, "intensity", heard, 0.05]
        assert control["density"] == wanted
    assert bundle.models["melody"].meta["sampling"]["top_p"] == TrainingConfig().sampling_top_p


def test_bad_mood_text_names_the_field(tiny_style_dir) -> None:
    from adaptive import StyleError
    from authoring import bake

    style = tiny_style_dir / "style.toml"
    style.write_text(
        style.read_text().replace("[states.combat]\n", '[states.combat]\nmood = "xyzzy"\n')
    )
    with pytest.raises(StyleError, match=r"states\.combat\.mood.*xyzzy"):
        bake(style, tiny_style_dir / "x.adaptive", progress=False)
