"""The pure-Python TensorBoard event-file writer of `keras_prelu.utils.summaries` against TensorFlow.

The CRC32C and the TFRecord framing equal TensorFlow's byte for byte; the
events the pure writer writes equal those of the TensorFlow path for the same
inputs (all but the wall time and the first event's writer name); and a child
process on JAX where `import tensorflow` fails writes event files that
TensorFlow reads back here.

    python -m pytest -q tests/test_summaries_writer.py
"""

import os
import pathlib
import re
import socket
import textwrap

import numpy as np
import pytest

from conftest import last_json_line, python_env, run_python
from keras_prelu.utils import summaries

tf = pytest.importorskip("tensorflow")
from tensorflow.core.util import event_pb2  # noqa: E402

# Three writes: odd characters in names, step 0 (left out of the proto), None and empty entries
# (skipped), a value beyond float32, NaN, a negative step, one-valued and non-finite histograms.
WRITES = [
    {"step": 0, "prefix": "train/",
     "scalars": {"loss#1": 0.25, "skipped": None, "huge": 1e300, "nan": float("nan")},
     "histograms": {"w": np.linspace(-1.0, 2.0, 50), "empty": [], "same": [3.0, 3.0],
                    "infinite": [np.inf, np.nan]}},
    {"step": 7, "prefix": "train/", "scalars": {"loss#1": -1.5},
     "histograms": {"w": [0.5, 0.25, 1.0]}},
    {"step": -1, "scalars": {"accuracy": 0.875}},
]


def _records(log_dir):
    """(file path, [serialized records]) of the one event file under `log_dir`."""
    (path,) = pathlib.Path(log_dir).glob("events.out.tfevents.*")
    return path, [record.numpy() for record in tf.data.TFRecordDataset(str(path))]


def _write(log_dir, pure_python, writes=WRITES):
    logger = summaries.SummaryLogger(str(log_dir), pure_python=pure_python)
    for write in writes:
        logger.write(**write)
    return _records(log_dir)


def test_crc32c_known_vectors():
    # "123456789" (the check value) and RFC 3720, B.4.
    assert summaries._crc32c(b"") == 0
    assert summaries._crc32c(b"123456789") == 0xE3069283
    assert summaries._crc32c(bytes(32)) == 0x8A9136AA
    assert summaries._crc32c(b"\xff" * 32) == 0x62A8AB43
    assert summaries._crc32c(bytes(range(32))) == 0x46DD794E
    assert summaries._crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_records_equal_tensorflows_tfrecord_writer(tmp_path):
    payloads = [b"", b"x", b"brain.Event:2", bytes(range(256)) * 7]
    path = tmp_path / "records"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(payload)
    assert b"".join(summaries._record(p) for p in payloads) == path.read_bytes()


def test_pure_python_events_equal_tensorflows(tmp_path):
    tf_path, tf_records = _write(tmp_path / "tensorflow", pure_python=False)
    path, records = _write(tmp_path / "python", pure_python=True)
    # Named as TensorFlow names them: events.out.tfevents.<seconds>.<host>.<pid>.<id>.v2
    host = re.escape(socket.gethostname())
    pattern = rf"events\.out\.tfevents\.(\d{{10}})\.{host}\.{os.getpid()}\.\d+\.v2"
    seconds = [int(re.fullmatch(pattern, p.name).group(1)) for p in (tf_path, path)]
    assert abs(seconds[0] - seconds[1]) <= 5
    # First the file version, at the file's time in whole seconds.
    first = event_pb2.Event.FromString(records[0])
    assert first.file_version == "brain.Event:2" and first.wall_time == seconds[1]
    assert first.source_metadata.writer == "keras_prelu.utils.summaries"
    assert event_pb2.Event.FromString(tf_records[0]).file_version == "brain.Event:2"
    # Then one event per value, byte for byte TensorFlow's after the wall time (field 1, a double).
    assert len(records) == len(tf_records) == 1 + 9
    for ours, theirs in zip(records[1:], tf_records[1:]):
        assert ours[0] == theirs[0] == 0x09
        assert ours[9:] == theirs[9:], (event_pb2.Event.FromString(ours),
                                        event_pb2.Event.FromString(theirs))
    events = [event_pb2.Event.FromString(r) for r in records[1:]]
    assert [(e.step, v.tag, v.metadata.plugin_data.plugin_name, v.metadata.data_class)
            for e in events for v in e.summary.value] == [
        (0, "train/loss_1", "scalars", 1), (0, "train/huge", "scalars", 1),
        (0, "train/nan", "scalars", 1), (0, "train/w", "histograms", 2),
        (0, "train/same", "histograms", 2), (0, "train/infinite", "histograms", 2),
        (7, "train/loss_1", "scalars", 1), (7, "train/w", "histograms", 2),
        (-1, "accuracy", "scalars", 1),
    ]
    buckets = tf.make_ndarray(events[3].summary.value[0].tensor)
    np.testing.assert_array_equal(buckets, summaries.histogram_buckets(np.linspace(-1.0, 2.0, 50)))
    assert summaries.read_scalars(tmp_path / "python")["train/loss_1"] == [(0, 0.25), (7, -1.5)]


def test_pure_python_file_is_created_on_the_first_write_and_complete_after_each(tmp_path):
    summaries.SummaryLogger(None, pure_python=True).write(0, {"a": 1.0})  # no log dir: nothing
    log_dir = tmp_path / "logs" / "train"
    logger = summaries.SummaryLogger(str(log_dir), pure_python=True)
    assert not log_dir.exists()
    logger.write(1, {"a": 1.0})
    assert summaries.read_scalars(log_dir) == {"a": [(1, 1.0)]}  # without a flush
    logger.write(2, {"a": 2.0}, {"h": [1.0, 2.0]})
    assert summaries.read_scalars(log_dir) == {"a": [(1, 1.0), (2, 2.0)]}
    logger.flush()
    assert len(_records(log_dir)[1]) == 4


CHILD = textwrap.dedent("""
    import json, sys
    sys.modules["tensorflow"] = None  # `import tensorflow` fails from here on
    import numpy as np
    from keras_prelu.utils import summaries
    logger = summaries.SummaryLogger(sys.argv[1])
    logger.write(0, {"loss#1": 0.25, "huge": 1e300}, {"w": np.linspace(-1.0, 2.0, 50)}, prefix="t/")
    logger.write(3, {"loss#1": -1.5}, {"w": [0.5, 0.25, 1.0]}, prefix="t/")
    try:
        summaries.read_scalars(sys.argv[1])
        read = None
    except ImportError as error:
        read = str(error)
    print(json.dumps({"tensorflow": sys.modules.get("tensorflow") is not None, "read": read}))
""")


def test_without_tensorflow_the_event_files_tensorflow_reads(tmp_path):
    result = run_python("-c", CHILD, tmp_path / "child", env=python_env(KERAS_BACKEND="jax"))
    assert last_json_line(result.stdout) == {
        "tensorflow": False,
        "read": "Reading TensorBoard event files needs TensorFlow: pip install tensorflow",
    }
    path, records = _records(tmp_path / "child")
    assert path.name.endswith(".v2")
    assert event_pb2.Event.FromString(records[0]).file_version == "brain.Event:2"
    writes = [  # what the child wrote
        {"step": 0, "prefix": "t/", "scalars": {"loss#1": 0.25, "huge": 1e300},
         "histograms": {"w": np.linspace(-1.0, 2.0, 50)}},
        {"step": 3, "prefix": "t/", "scalars": {"loss#1": -1.5},
         "histograms": {"w": [0.5, 0.25, 1.0]}},
    ]
    _, tf_records = _write(tmp_path / "tensorflow", pure_python=False, writes=writes)
    assert [r[9:] for r in records[1:]] == [r[9:] for r in tf_records[1:]]
    assert summaries.read_scalars(tmp_path / "child") == {
        "t/loss_1": [(0, 0.25), (3, -1.5)], "t/huge": [(0, float("inf"))],
    }
