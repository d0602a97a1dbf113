"""Start-up: from loading the default bundle to the first audible buffer queued to SDL.

Each round runs in a fresh subprocess (SDL's disk audio driver, the game's pygame
already imported, as a game has it): ``runtime.load_bundle()``, then
``MusicEngine(bundle, output="sdl", worker=...).start()``, until the first block
with a non-zero sample is handed to ``SDL_QueueAudio``. The SDL library handle is
wrapped before the engine starts, so a forked worker process inherits the wrapper;
the worker's phases are stamped from inside it on the same monotonic clock
(``time.perf_counter`` is CLOCK_MONOTONIC on Linux, shared by processes).

Phases, in ms from the start of ``load_bundle`` (medians over the rounds):

- ``load``: ``load_bundle()`` returned (read, checked, ONNX dry-runs);
- ``engine``: ``MusicEngine(...)`` returned;
- ``forked`` (process worker): the worker process runs;
- ``built``: the worker's engine (composer, kit, stingers) is built;
- ``first_bar``: the first bar is composed;
- ``device``: SDL's device is about to open;
- ``audible``: the first audible block is queued;
- ``start``: ``start()`` returned to the game.

``ADAPTIVE_BENCH_STARTUP_ROUNDS`` sets the rounds per worker (default 5).
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

ROUNDS = int(os.environ.get("ADAPTIVE_BENCH_STARTUP_ROUNDS", "5"))

START = textwrap.dedent(
    """
    import ctypes, functools, json, os, sys, time
    import numpy as np
    import pygame  # a game has it loaded before it loads the music
    import runtime
    from runtime import _local, _scheduler
    from runtime.outputs import _open, _sdl

    marks_read, marks_write = os.pipe()  # the worker inherits it: marks from both processes
    first = {}

    def mark(name):
        if name not in first:  # once per process
            first[name] = True
            os.write(marks_write, f"{name} {time.perf_counter()}\\n".encode())

    def stamped(name, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            mark(name)
            return result
        return wrapper

    library = _sdl._sdl

    @functools.cache
    def wrapped_library():
        lib = library()
        queue = lib.SDL_QueueAudio
        def queue_audio(device, data, size):
            result = queue(device, data, size)
            block = np.ctypeslib.as_array((ctypes.c_float * (size // 4)).from_address(data))
            if block.any():
                mark("audible")
            return result
        lib.SDL_QueueAudio = queue_audio
        return lib

    _sdl._sdl = wrapped_library
    real_open = _open.open_output
    def open_output(*args, **kwargs):
        mark("device")
        return real_open(*args, **kwargs)
    _local.open_output = open_output
    _local.LocalEngine.__init__ = stamped("built", _local.LocalEngine.__init__)
    _scheduler.LookaheadScheduler.prime = stamped("first_bar", _scheduler.LookaheadScheduler.prime)
    from runtime import _host
    real_serve = _host._serve
    def serve(*args, **kwargs):
        mark("forked")
        return real_serve(*args, **kwargs)
    _host._serve = serve

    worker = sys.argv[1]
    t0 = time.perf_counter()
    bundle = runtime.load_bundle()
    t_load = time.perf_counter()
    engine = runtime.MusicEngine(bundle, output="sdl", worker=worker, seed=1)
    t_engine = time.perf_counter()
    engine.start()
    t_start = time.perf_counter()
    marks, data = {}, b""
    os.set_blocking(marks_read, False)
    deadline = time.perf_counter() + 20
    while "audible" not in marks and time.perf_counter() < deadline:
        try:
            data += os.read(marks_read, 65536)
        except BlockingIOError:
            time.sleep(0.001)
        for line in data.decode().splitlines():
            name, when = line.split()
            marks[name] = (float(when) - t0) * 1000
    engine.stop()
    marks.update(load=(t_load - t0) * 1000, engine=(t_engine - t0) * 1000,
                 start=(t_start - t0) * 1000, worker=engine.worker, output=engine.output)
    print(json.dumps(marks))
    """
)

PHASES = ("load", "engine", "forked", "built", "first_bar", "device", "audible", "start")


def _round(tmp_path: Path, worker: str) -> dict:
    env = dict(
        os.environ,
        SDL_VIDEODRIVER="dummy",
        SDL_AUDIODRIVER="disk",
        SDL_DISKAUDIOFILE=str(tmp_path / f"startup-{worker}.raw"),
        PYGAME_HIDE_SUPPORT_PROMPT="1",
    )
    done = subprocess.run(
        [sys.executable, "-c", START, worker], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_startup_to_first_audible_buffer(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Bundle load to the first audible buffer, worker process and thread, interleaved."""
    rounds: dict[str, list[dict]] = {"process": [], "thread": []}

    def interleaved() -> None:
        for _ in range(ROUNDS):
            for worker in rounds:
                rounds[worker].append(_round(tmp_path, worker))

    benchmark.pedantic(interleaved, rounds=1, iterations=1)
    info: dict[str, object] = {"rounds": ROUNDS, "load_average": os.getloadavg()[0]}
    for worker, results in rounds.items():
        assert all(r["output"] == "sdl" and "audible" in r for r in results), results
        assert all(r["worker"] == worker for r in results)
        audible = [r["audible"] for r in results]
        info[f"load_to_audible_ms_{worker}"] = float(np.median(audible))
        info[f"load_to_audible_ms_{worker}_all"] = audible
        info[f"phases_ms_{worker}"] = {
            phase: float(np.median([r[phase] for r in results]))
            for phase in PHASES
            if all(phase in r for r in results)
        }
    benchmark.extra_info.update(info)
    print(json.dumps(info, indent=1))
