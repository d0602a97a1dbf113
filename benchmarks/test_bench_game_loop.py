"""What the engine costs a real pygame game loop, and whether its audio survives it.

A real pygame loop (SDL's dummy video driver, SDL's disk audio driver) runs at
60 fps and does 8 ms of pure-Python game work every frame, holding the GIL the
way a Python game does. Rounds with the engine and without it are interleaved
in one run, so the frame-time figures are ratios on the same machine at the
same moment. Each round runs in a fresh subprocess.

``ADAPTIVE_BENCH_SECONDS`` sets each round's length (default 6; the issue's
five-minute figure: 300; ``ADAPTIVE_BENCH_SECONDS_256`` the 256-frame round's, by
default the same). ``ADAPTIVE_BENCH_BURNERS=2`` runs two CPU burners
beside it for the loaded figures (see ``conftest.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SECONDS = float(os.environ.get("ADAPTIVE_BENCH_SECONDS", "6"))
# the 256-frame round is reported, not held to the bar: it may be shorter
SECONDS_256 = float(os.environ.get("ADAPTIVE_BENCH_SECONDS_256", str(SECONDS)))

GAME = textwrap.dedent(
    """
    import json, os, resource, sys, time
    import pygame
    seconds, music, block = float(sys.argv[1]), sys.argv[2] == "on", int(sys.argv[3])
    pygame.display.init()
    screen = pygame.display.set_mode((320, 200))
    clock = pygame.time.Clock()
    engine = None
    calls, stats_calls, floor_calls = [], [], []
    def floor(name, value):  # the cheapest checked call: the cold-cache floor of this frame
        if type(name) is not str:
            raise TypeError(name)
        return (name, float(value))
    if music:
        import runtime
        started = time.perf_counter()
        engine = runtime.MusicEngine(runtime.load_bundle(), output="sdl", buffer_frames=block, seed=1)
        engine.start()
        startup = time.perf_counter() - started
    frames, world = [], list(range(2000))
    t0 = time.perf_counter()
    last = t0
    while time.perf_counter() - t0 < seconds:
        pygame.event.pump()
        work = time.perf_counter()
        while time.perf_counter() - work < 0.008:  # the game's own Python: physics, AI
            world = [x * 3 % 1000 for x in world[:200]] + world[200:]
        if engine is not None:
            c = time.perf_counter()
            engine.set_parameter("intensity", (time.perf_counter() - t0) % 10 / 10)
            calls.append(time.perf_counter() - c)
            c = time.perf_counter()
            floor("intensity", 0.5)
            floor_calls.append(time.perf_counter() - c)
            c = time.perf_counter()
            engine.stats()
            stats_calls.append(time.perf_counter() - c)
            if int(time.perf_counter() - t0) % 8 == 4:
                engine.set_state("combat")
            elif int(time.perf_counter() - t0) % 8 == 0:
                engine.set_state("explore")
            engine.update()
        screen.fill((20, 20, 30))
        pygame.display.flip()
        clock.tick(60)
        now = time.perf_counter()
        frames.append(now - last)
        last = now
    out = {"frames_ms": [f * 1000 for f in frames[30:]]}
    if engine is not None:
        stats = engine.stats()
        import multiprocessing
        worker_rss = 0.0  # the engine's worker process (worker="process"): its peak, in MB
        for child in multiprocessing.active_children():
            for line in open(f"/proc/{child.pid}/status"):
                if line.startswith("VmHWM"):
                    worker_rss = max(worker_rss, int(line.split()[1]) / 1024)
        engine.stop()
        out["worker_rss_mb"] = worker_rss
        out.update(
            underruns=stats.underruns, fallback_bars=stats.fallback_bars,
            call_us=[c * 1e6 for c in calls], floor_us=[c * 1e6 for c in floor_calls], stats_us=[c * 1e6 for c in stats_calls],
            startup_ms=startup * 1000, worker=engine.worker,
        )
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    """
)


def _round(tmp_path: Path, music: bool, block: int, seconds: float = SECONDS) -> dict:
    env = dict(
        os.environ,
        SDL_VIDEODRIVER="dummy",
        SDL_AUDIODRIVER="disk",
        SDL_DISKAUDIOFILE=str(tmp_path / f"bench-{block}.raw"),
    )
    done = subprocess.run(
        [sys.executable, "-c", GAME, str(seconds), "on" if music else "off", str(block)],
        capture_output=True,
        text=True,
        timeout=seconds * 3 + 120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def test_game_loop_with_and_without_the_engine(
    benchmark: pytest.FixtureRequest, tmp_path: Path, cpu_burners: int
) -> None:
    rounds: dict[str, list[dict]] = {"off": [], "on": [], "on256": []}

    def interleaved() -> None:
        rounds["off"].append(_round(tmp_path, False, 512))
        rounds["on"].append(_round(tmp_path, True, 512))
        rounds["on256"].append(_round(tmp_path, True, 256, SECONDS_256))

    benchmark.pedantic(interleaved, rounds=1, iterations=1)
    off, on, on256 = rounds["off"][0], rounds["on"][0], rounds["on256"][0]
    info = {
        "seconds_per_round": SECONDS,
        "seconds_256": SECONDS_256,
        "burners": cpu_burners,
        "worker": on["worker"],
        "frame_ms_p99": {"off": _p(off["frames_ms"], 99), "on": _p(on["frames_ms"], 99)},
        "frame_ms_p50": {"off": _p(off["frames_ms"], 50), "on": _p(on["frames_ms"], 50)},
        "underruns_512": on["underruns"],
        "underruns_256": on256["underruns"],
        "fallback_bars": on["fallback_bars"],
        "set_parameter_us": {"p50": _p(on["call_us"], 50), "p99": _p(on["call_us"], 99)},
        "floor_call_us": {"p50": _p(on["floor_us"], 50), "p99": _p(on["floor_us"], 99)},
        "stats_us_p50": _p(on["stats_us"], 50),
        "startup_ms": on["startup_ms"],
        "game_rss_mb": on["rss_mb"],
        "worker_rss_mb": on["worker_rss_mb"],
        "load_average": os.getloadavg()[0],
    }
    info["frame_p99_rise_ms"] = info["frame_ms_p99"]["on"] - info["frame_ms_p99"]["off"]
    info["frame_p99_ratio"] = info["frame_ms_p99"]["on"] / max(info["frame_ms_p99"]["off"], 1e-9)
    benchmark.extra_info.update(info)
    print(json.dumps(info, indent=1))
