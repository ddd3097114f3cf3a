"""Every user error is one line on stderr and exit code 2: a table of bad inputs over all commands."""

import shutil

import pytest

from keras_prelu.commands import main as cli
from conftest import usage_error

LONG = "a" * 300  # longer than a file name may be


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A finished run, damaged copies of it, a file, a garbage .keras; {name: path}."""
    root = tmp_path_factory.mktemp("bad")
    run = root / "run"
    assert cli.main(["train", "mlp3x256_relu", "--epochs", "1", "--batch-size", "64", "--no-xla",
                     "--progress", "none", "--out", str(run)]) == 0
    found = {"root": root, "run": run}
    for name, damage in {
        "broken_config": lambda d: (d / "config.json").write_text("{not json"),
        "config_list": lambda d: (d / "config.json").write_text("[1, 2]"),
        "config_no_settings": lambda d: (d / "config.json").write_text('{"dataset": {}}'),
        "broken_history": lambda d: (d / "history.json").write_text("{"),
        "truncated_model": lambda d: (d / "model.keras").write_bytes((d / "model.keras").read_bytes()[:500]),
        "truncated_weights": lambda d: [(d / "model.keras").unlink(),
                                        (d / "final.weights.h5").write_bytes(b"\x89HDF\r\n")],
        "no_config": lambda d: (d / "config.json").unlink(),
        "truncated_unrecorded": lambda d: [(d / "model_card.json").unlink(),  # a run from before
                                           (d / "model.keras").write_bytes(b"PK\x03\x04")],
    }.items():
        shutil.copytree(run, root / name)
        damage(root / name)
        found[name] = root / name
    (root / "afile").write_text("a file")
    (root / "garbage.keras").write_text("garbage")
    (root / "empty").mkdir()
    return found


TRAIN = ["train", "mlp3x256_relu", "--epochs", "1"]
CASES = [
    # the command line itself
    ([], ["command"]),
    (["nosuchcommand"], ["nosuchcommand"]),
    (["train"], ["NAME"]),
    (["train", "mlp3x256_relu", "--nope"], ["--nope"]),
    # model names
    (["train", "nosuch"], ["unknown model 'nosuch'"]),
    (["train", "resnet20_prelus"], ["did you mean resnet20_prelu"]),
    (["train", ""], ["unknown model"]),
    (["train", LONG], ["unknown model"]),
    (["train", "mlp3x256_relu/../x"], ["unknown model"]),
    (["info", "nosuch"], ["Unknown model"]),
    (["models", "info", "resnet20_prelus"], ["resnet20_prelu"]),
    # numbers
    *[([*TRAIN, flag, value], [flag]) for flag, values in {
        "--epochs": ["0", "-1", "x", "1.5", ""],
        "--batch-size": ["0", "-3", "abc"],
        "--lr": ["0", "-1", "nan", "abc"],
        "--weight-decay": ["-1", "abc"],
        "--warmup-epochs": ["-1", "abc"],
        "--steps-per-execution": ["0", "x", "-1"],
        "--steps-per-epoch": ["0", "-2", "x"],
        "--val-split": ["1", "-0.1", "1.5", "x"],
        "--progress-every": ["-1", "x"],
        "--seed": ["x", "1.5"],
    }.items() for value in values],
    ([*TRAIN, "--seed", "-1"], ["seed must be a whole number in 0..4294967295"]),
    ([*TRAIN, "--seed", str(2**32)], ["seed must be a whole number"]),
    ([*TRAIN, "--steps-per-epoch", "100000", "--out", "{root}/spe"], ["--steps-per-epoch 100000"]),
    # choices
    *[([*TRAIN, flag, value], [flag]) for flag, value in [
        ("--optimizer", "rmsprop"), ("--optimizer", ""), ("--schedule", "linear"),
        ("--augment", "flip"), ("--precision", "float16"), ("--precision", "bf16"),
        ("--strategy", "tpu"), ("--progress", "fancy"),
    ]],
    ([*TRAIN, "--recipe", "nope", "--out", "{root}/recipe"], ["unknown recipe 'nope'"]),
    # datasets
    ([*TRAIN, "--dataset", "", "--out", "{root}/d1"], ["dataset"]),
    ([*TRAIN, "--dataset", "../x", "--out", "{root}/d2"], ["unknown dataset '../x'"]),
    ([*TRAIN, "--dataset", "no_such_dataset", "--out", "{root}/d3"], ["unknown dataset"]),
    ([*TRAIN, "--dataset", "a b", "--out", "{root}/d4"], ["unknown dataset"]),
    ([*TRAIN, "--dataset", "mnist", "--data-dir", "{root}/afile", "--no-download", "--out",
      "{root}/d5"], ["mnist"]),
    ([*TRAIN, "--dataset", "mnist", "--data-dir", "{root}/empty", "--no-download", "--out",
      "{root}/d6"], ["not prepared"]),
    # run directories
    ([*TRAIN, "--out", "{root}/afile"], ["cannot use"]),
    ([*TRAIN, "--out", "{root}/afile/sub"], ["cannot use"]),
    ([*TRAIN, "--out", "/proc/keras_prelu_run"], ["cannot use"]),
    ([*TRAIN, "--out", "{root}/" + LONG], ["cannot use"]),
    ([*TRAIN, "--out", "{run}"], ["already holds a run"]),
    (["train", "mlp3x256_relu", "--resume"], ["--resume needs --out"]),
    (["train", "mlp3x256_relu", "--resume", "--out", "{root}/empty"], ["nothing to resume"]),
    (["train", "mlp3x256_relu", "--resume", "--out", "{run}", "--epochs", "7"], ["--resume continues"]),
    (["train", "mlp3x256_prelu", "--resume", "--out", "{run}"], ["--resume continues"]),
    (["train", "mlp3x256_relu", "--resume", "--out", "{broken_config}"], ["config.json", "damaged"]),
    (["train", "mlp3x256_relu", "--resume", "--out", "{config_list}"], ["config.json"]),
    (["train", "mlp3x256_relu", "--resume", "--out", "{config_no_settings}"], ["config.json"]),
    # evaluate
    (["evaluate"], ["RUN_DIR"]),
    (["evaluate", "{root}/nowhere"], ["no such run directory"]),
    (["evaluate", "{root}/afile"], ["no such run directory"]),
    (["evaluate", "{no_config}"], ["not a run directory"]),
    (["evaluate", "{broken_config}"], ["config.json", "damaged"]),
    (["evaluate", "{config_list}"], ["config.json"]),
    (["evaluate", "{truncated_model}"], ["model.keras", "not the run's final model"]),
    (["evaluate", "{truncated_weights}"], ["final.weights.h5", "not the run's final model"]),
    (["evaluate", "{truncated_unrecorded}"], ["model.keras", "cannot be loaded",
                                              "not a readable Keras archive"]),
    (["evaluate", "{run}", "--split", "nope"], ["--split"]),
    (["evaluate", "{run}", "--split", "val"], ["no validation split"]),
    (["evaluate", "{run}", "--batch-size", "0"], ["--batch-size"]),
    (["evaluate", "{run}", "--dataset", "no_such_dataset"], ["unknown dataset"]),
    # export
    (["export", "{root}/nowhere", "--out", "{root}/x1"], ["nowhere"]),
    (["export", "{root}/garbage.keras", "--out", "{root}/x2"], ["cannot be loaded as a Keras model"]),
    (["export", "{root}/afile", "--out", "{root}/x3"], ["afile"]),
    (["export", "{truncated_model}", "--out", "{root}/x4"], ["model.keras", "not the run's final"]),
    (["export", "{truncated_unrecorded}", "--out", "{root}/x5"], ["model.keras", "cannot be loaded"]),
    (["export", "{run}", "--out", "{root}/x6", "--format", "nope"], ["--format"]),
    (["export", "{run}", "--out", "{root}/x7", "--quantize", "nope"], ["--quantize"]),
    (["export", "{run}", "--out", "{root}/x8", "--quantize", "int8"], ["tflite"]),
    (["export", "{run}", "--out", "{root}/x9", "--version", "0"], ["--version"]),
    (["export", "{run}", "--out", "{root}/x10", "--version", "x"], ["--version"]),
    (["export", "{run}", "--out", "{root}/afile"], ["already exists"]),
    (["export", "{run}"], ["--out"]),
    # compare
    (["compare", "nosuch"], ["unknown model 'nosuch'"]),
    (["compare", "mlp3x256", "--activations", "nope"], ["unknown activation 'nope'"]),
    (["compare", "mlp3x256", "--activations", "relu,relu"], ["listed twice"]),
    (["compare", "mlp3x256", "--activations", ""], ["--activations"]),
    (["compare", "mlp3x256", "--seeds", "0"], ["--seeds"]),
    (["compare", "mlp3x256", "--seeds", "x"], ["--seeds"]),
    (["compare", "mlp3x256", "--epochs", "0"], ["--epochs"]),
    (["compare", "mlp3x256", "--fgsm-epsilon", "2"], ["--fgsm-epsilon"]),
    (["compare", "mlp3x256", "--attack-examples", "0"], ["--attack-examples"]),
    (["compare", "mlp3x256", "--out", "{root}/afile"], ["holds no study"]),
    # plot
    (["plot", "{root}/nowhere"], []),
    (["plot", "{broken_config}", "--out", "{root}/p1"], ["config.json"]),
    (["plot", "{broken_history}", "--out", "{root}/p2"], ["history.json"]),
    (["plot", "{truncated_unrecorded}", "--out", "{root}/p3"], ["model.keras"]),
]


def _fill(argv, places):
    return [a.format(**{k: str(v) for k, v in places.items()}) if isinstance(a, str) else a
            for a in argv]


@pytest.mark.parametrize("argv, fragments", CASES, ids=[" ".join(a)[:60] or "(none)" for a, _ in CASES])
def test_a_bad_input_is_one_line_and_exit_2(places, argv, fragments):
    usage_error(*_fill(argv, places), fragments=fragments)


def test_a_malformed_tf_config_is_one_line(places, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    usage_error(*TRAIN, "--out", places["root"] / "tfc", fragments=["TF_CONFIG"])


def test_the_table_is_large():
    assert len(CASES) >= 100


def test_an_unprepared_dataset_without_network_fails_in_seconds(places, monkeypatch):
    import time

    from keras_prelu.training import data

    monkeypatch.setattr(data, "DOWNLOAD_HOST", ("127.0.0.1", 9))  # closed: never downloads here
    start = time.perf_counter()
    usage_error(*TRAIN, "--dataset", "mnist", "--data-dir", places["root"] / "empty", "--out",
                places["root"] / "offline", fragments=["cannot be downloaded", "no connection"])
    assert time.perf_counter() - start < 30
