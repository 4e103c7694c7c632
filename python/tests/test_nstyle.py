"""The Python package against the command line it wraps: same bytes for the same options,
callbacks, errors, the GIL, Ctrl-C and fork()."""

import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import warnings

import numpy as np
import pytest

import nstyle

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTENT = ROOT / "images" / "content" / "chelsea.jpg"
STYLE = ROOT / "images" / "style" / "starry_night.jpg"
NSTYLE_BIN = os.environ.get("NSTYLE_BIN", str(ROOT / "target" / "release" / "nstyle"))
SMALL = dict(size=64, iterations=4, seed=5)


def cli(*args):
    """Runs the nstyle binary built from this repository; its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "NSTYLE_WEIGHTS"}
    r = subprocess.run(
        [NSTYLE_BIN, *map(str, args)], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(autouse=True)
def bundled_weights(monkeypatch):
    monkeypatch.delenv("NSTYLE_WEIGHTS", raising=False)


def test_stylize_gives_the_bytes_of_the_command_line(tmp_path):
    out = tmp_path / "cli.png"
    cli(CONTENT, STYLE, "-o", out, "--size", 64, "--iterations", 4, "--seed", 5, "--quiet")
    expected = nstyle.load_image(out, dtype="uint8")
    got = nstyle.stylize(CONTENT, STYLE, **SMALL)
    assert got.dtype == np.uint8 and got.shape == (43, 64, 3)
    assert got.tobytes() == expected.tobytes()
    # Arrays (uint8 and float32) give what the files give.
    content = nstyle.load_image(CONTENT, dtype="uint8")
    style = nstyle.load_image(STYLE)
    assert style.dtype == np.float32
    again = nstyle.stylize(content, style, **SMALL)
    assert again.tobytes() == expected.tobytes()
    f = nstyle.stylize(str(CONTENT), [STYLE], dtype="float32", **SMALL)
    assert f.dtype == np.float32 and f.shape == (43, 64, 3)
    assert 0.0 <= f.min() and f.max() <= 1.0
    assert np.array_equal(np.round(f * 255).astype(np.uint8), expected)


def test_blends_colours_and_style_scale_give_the_command_lines_bytes(tmp_path):
    scream = ROOT / "images" / "style" / "the_scream.jpg"
    out = tmp_path / "cli.png"
    cli(CONTENT, STYLE, scream, "-o", out, "--size", 64, "--iterations", 3, "--seed", 5,
        "--style-blend", "0.7,0.3", "--preserve-colors", "luminance", "--style-scale", 0.75,
        "--quiet")
    expected = nstyle.load_image(out, dtype="uint8")
    got = nstyle.stylize(CONTENT, [STYLE, scream], size=64, iterations=3, seed=5,
                         style_blend=[0.7, 0.3], preserve_colors="luminance", style_scale=0.75)
    assert got.tobytes() == expected.tobytes()
    planned = []
    nstyle.stylize(None, [scream, STYLE], size=32, iterations=1,
                   callback=lambda e, _: planned.append(e) if e["event"] == "planned" else None)
    assert planned[0]["style_weights"] == [0.5, 0.5]
    assert [s["height"] for s in planned[0]["style_sizes"]] == [32, 20]


def test_style_only_takes_the_paintings_aspect():
    out = nstyle.stylize(None, STYLE, size=48, iterations=2)
    assert out.shape[1] == 48 or out.shape[0] == 48


def test_callback_sees_every_event_and_snapshots():
    events, images = [], []

    def cb(event, image):
        events.append(event["event"])
        if image is not None:
            images.append(image)

    out = nstyle.stylize(
        CONTENT, STYLE, size=64, iterations=5, tol=0, min_progress=0, callback=cb, callback_every=2
    )
    assert events == [
        "planned",
        "stage_started",
        "iteration",
        "iteration",
        "snapshot",
        "iteration",
        "iteration",
        "snapshot",
        "iteration",
        "stage_finished",
        "finished",
    ]
    assert len(images) == 2
    assert all(i.shape == out.shape and i.dtype == np.uint8 for i in images)


def test_callback_returning_false_stops_the_run():
    seen = []

    def cb(event, image):
        seen.append(event)
        if event["event"] == "iteration" and event["iteration"] == 3:
            return False
        return None  # anything but False goes on

    out = nstyle.stylize(CONTENT, STYLE, size=64, iterations=100, tol=0, min_progress=0, callback=cb)
    assert out.shape == (43, 64, 3)
    assert [e["iteration"] for e in seen if e["event"] == "iteration"] == [1, 2, 3]
    assert seen[-1]["event"] == "stopped" and seen[-1]["stop"] == "interrupted"


def test_an_exception_in_the_callback_stops_the_run_and_propagates():
    class Boom(Exception):
        pass

    calls = []

    def cb(event, image):
        calls.append(event["event"])
        if event["event"] == "iteration":
            raise Boom("stop here")

    with pytest.raises(Boom, match="stop here"):
        nstyle.stylize(CONTENT, STYLE, size=64, iterations=100, tol=0, min_progress=0, callback=cb)
    assert calls == ["planned", "stage_started", "iteration"]


def test_other_threads_run_while_a_job_runs():
    counter = [0]
    done = threading.Event()

    def spin():
        while not done.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    before = counter[0]
    nstyle.stylize(CONTENT, STYLE, size=64, iterations=20, tol=0, min_progress=0)
    during = counter[0] - before
    done.set()
    t.join()
    # With the GIL held for the whole run, the spinning thread would not move at all.
    assert during > 100_000, during


def test_ctrl_c_stops_the_run_and_raises_keyboard_interrupt():
    iterations = [0]

    def cb(event, image):
        if event["event"] == "iteration":
            iterations[0] += 1
            return iterations[0] < 5000  # a safety net, far beyond the signal

    def interrupt():
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        nstyle.stylize(CONTENT, STYLE, size=64, iterations=100_000, tol=0, min_progress=0, callback=cb)
    assert time.monotonic() - start < 10
    assert 0 < iterations[0] < 5000


def one_line_value_error(pattern, *args, **kwargs):
    with pytest.raises(ValueError, match=pattern) as e:
        nstyle.stylize(*args, **kwargs)
    assert "\n" not in str(e.value)


def test_bad_arguments_raise_value_error_with_the_one_line_message(tmp_path):
    one_line_value_error(r"^style_weight must be a finite number >= 0, got -1$", CONTENT, STYLE, style_weight=-1)
    one_line_value_error(r"^size must be at least 16 px", CONTENT, STYLE, size=8)
    one_line_value_error(r"^iterations must be a whole number, got 'many'$", CONTENT, STYLE, iterations="many")
    one_line_value_error(r"^iterations must be at least 1$", CONTENT, STYLE, iterations=0)
    one_line_value_error(r"^optimizer must be one of lbfgs, adam, got 'sgd'$", CONTENT, STYLE, optimizer="sgd")
    one_line_value_error(r"unknown style loss 'fancy'", CONTENT, STYLE, style_loss="fancy")
    one_line_value_error(r"unknown layer 'relu7_1'", CONTENT, STYLE, style_layers=["relu1_1", "relu7_1"])
    one_line_value_error(r"^style_blend gives 3 weights for 2 style images", CONTENT, [STYLE, STYLE], style_blend=[1, 2, 3])
    one_line_value_error(r"^style_blend weights must be finite and >= 0, got -1$", CONTENT, [STYLE, STYLE], style_blend="-1,2")
    one_line_value_error(r"^style_scale cannot be combined with a style size", CONTENT, STYLE, style_scale=0.5, style_size=64)
    one_line_value_error(r"H x W x 3", np.zeros((4, 4), np.uint8), STYLE)
    one_line_value_error(r"uint8 .* or float32", np.zeros((4, 4, 3), np.int64), STYLE)
    one_line_value_error(r"\[0, 1\]", np.full((8, 8, 3), 2.0, np.float32), STYLE)
    one_line_value_error(r"^threads must be at least 1$", CONTENT, STYLE, threads=0)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    one_line_value_error(r"corrupt\.png", corrupt, STYLE)
    with pytest.raises(FileNotFoundError, match="nonexistent"):
        nstyle.stylize(tmp_path / "nonexistent.jpg", STYLE)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sise'"):
        nstyle.stylize(CONTENT, STYLE, sise=64)
    with pytest.raises(ValueError, match="dtype"):
        nstyle.stylize(CONTENT, STYLE, dtype="float64")


def test_losses_are_the_command_lines_numbers_and_gradient(tmp_path):
    image = tmp_path / "x.png"
    nstyle.save_image(image, nstyle.stylize(CONTENT, STYLE, size=64, iterations=2))
    grad = tmp_path / "g.npy"
    expected = json.loads(
        cli("losses", "--content", CONTENT, "--style", STYLE, "--image", image,
            "--size", 64, "--style-loss", "gram,mmd-linear", "--grad-out", grad)
    )
    got = nstyle.losses(
        CONTENT, STYLE, image, size=64, style_loss="gram,mmd-linear", gradient=True
    )
    g = got.pop("gradient")
    assert got == expected
    assert set(got["style"]) == {"gram", "mmd-linear"}
    assert g.dtype == np.float32 and g.shape == (3, 43, 64)
    assert np.array_equal(g, np.load(grad))
    # The gradient's own space is accepted as the image.
    again = nstyle.losses(CONTENT, STYLE, np.load(grad) * 0, style_loss="gram")
    assert again["content"]["relu4_2"] > 0
    with pytest.raises(ValueError, match="give size= to resize both"):
        nstyle.losses(CONTENT, STYLE, nstyle.load_image(image)[:32])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_a_forked_child_runs_on_one_thread_and_says_so():
    nstyle.stylize(CONTENT, STYLE, size=32, iterations=1)  # the parent's pool is up
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 2
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                out = nstyle.stylize(CONTENT, STYLE, size=32, iterations=1)
            warned = any("forked" in str(x.message) for x in w)
            code = 0 if out.shape == (21, 32, 3) and warned else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 120
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
