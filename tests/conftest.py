"""Shared pytest set-up and helpers.

Set-up: quiet TensorFlow, the opt-in `slow` marker, the `shared_data` fixture.
Helpers (plain functions; tests import them with `from conftest import ...`,
pytest puts tests/ on sys.path):

- subprocesses: `ROOT`, `KERAS_PRELU` (the installed command), `python_env`,
  `run_python`, `last_json_line`, `child_json`, `own_lines`;
- the command in-process: `run_cli`, `usage_error`;
- figures: `png_size`, `check_png`;
- models: `randomize_slopes`.
"""

import contextlib
import io
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run tests marked slow"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: pass --run-slow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def shared_data():
    """Path of ../shared/data beside the project; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (../shared/data is absent)")
    return SHARED_DATA


# ---------------------------------------------------------------------------
# Subprocesses
# ---------------------------------------------------------------------------

# The installed console script; else the same entry point through the interpreter.
KERAS_PRELU = (
    [shutil.which("keras-prelu")]
    if shutil.which("keras-prelu")
    else [sys.executable, "-c", "import sys; from keras_prelu.commands.main import main; sys.exit(main())"]
)

# TensorFlow's C++ start-up logging, which a subprocess may print before our own output.
TF_LOG_PREFIXES = ("WARNING: All log messages before absl", "I0000", "W0000", "E0000")


def python_env(**extra):
    """The environment for a child process: this one, quiet TensorFlow, the project on
    PYTHONPATH, no inherited TF_CONFIG, then `extra`."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def run_python(*args, check=True, timeout=300, env=None, cwd=None):
    """`python *args` in a clean child process (`python_env()` unless `env`); the CompletedProcess.

    `check=True` asserts exit code 0 and shows the end of stderr when it is not.
    """
    result = subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout,
        env=python_env() if env is None else env, cwd=cwd,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def last_json_line(stdout):
    """The JSON object a child process printed as its last line."""
    return json.loads(stdout.strip().splitlines()[-1])


def child_json(code, stdout, stderr):
    """`last_json_line` of a finished child, after asserting exit code 0 (showing the end of
    its stderr when not)."""
    assert code == 0, stderr[-4000:]
    return last_json_line(stdout)


def own_lines(text):
    """The non-blank lines of `text` without TensorFlow's C++ start-up logging."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith(TF_LOG_PREFIXES)]


# ---------------------------------------------------------------------------
# The command, in this process
# ---------------------------------------------------------------------------


def run_cli(*argv):
    """`keras-prelu *argv` run in-process as the installed command would: (exit code, stdout, stderr)."""
    from keras_prelu.commands import main as cli

    argv = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["keras-prelu", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    finally:
        sys.argv = saved
    return code, out.getvalue(), err.getvalue()


def usage_error(*argv, fragments=()):
    """Run `keras-prelu *argv`, expect a user error: exit code 2, nothing on stdout, one line
    `keras-prelu: error: ...` on stderr containing every fragment; returns that line."""
    code, out, err = run_cli(*argv)
    assert code == 2, (code, out, err)
    assert out == "", out
    lines = own_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-prelu: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from a PNG's header; asserts the PNG signature."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def check_png(path, width, height, min_colours=20):
    """`path` is a PNG of `width` x `height` pixels that is not (nearly) blank."""
    import matplotlib.image
    import numpy as np

    assert png_size(path) == (width, height)
    image = matplotlib.image.imread(path)[..., :3]
    assert image.shape[:2] == (height, width)
    assert image.var() > 1e-3, f"{path} is blank"
    rgb = np.round(image * 255).astype(np.int64)
    colours = np.unique(rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2])
    assert len(colours) > min_colours, f"{path} is (nearly) blank: {len(colours)} colours"


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


def randomize_slopes(model, seed=0):
    """Distinct PReLU slopes per channel (uniform in [0.05, 0.6) from `seed`), so a wrong
    broadcast cannot pass unnoticed; returns `model`."""
    import numpy as np

    import keras_prelu

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras_prelu.PReLU):
            layer.alpha.assign(rng.uniform(0.05, 0.6, layer.alpha.shape).astype("float32"))
    return model


# ---------------------------------------------------------------------------
# Damaged files
# ---------------------------------------------------------------------------


def flip_a_byte_inside_the_largest_array(path):
    """Damage the data of the largest variable in place (not a truncation: the archive opens)."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if i.filename != "__state__.npy"),
                   key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    # The member's data follow its local header (30 bytes + name + extra field).
    name_length = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.compress_size // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    return info.filename
