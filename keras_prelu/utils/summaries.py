"""TensorBoard summaries: event files written with TensorFlow, or in pure Python without it.

Where TensorFlow is importable, `SummaryLogger` writes through its core
`tf.summary.write` (TensorFlow no longer depends on the `tensorboard` package,
whose `tf.summary.scalar`/`histogram` fail without it) with the plugin
metadata TensorBoard expects ("scalars", "histograms"). Without TensorFlow
(say `KERAS_BACKEND=jax` alone) it writes the same events itself: TFRecord
framing with masked CRC32C checksums around hand-serialized `Event` protocol
buffers, the serialized events equal to TensorFlow's apart from the wall time
(and the first event's `source_metadata.writer`). Files are created on the
first write and complete after each write.

Reading (`scalar_events`, `read_scalars`) needs TensorFlow and says so in one
line without it. TensorFlow is imported only inside functions.
"""

import functools
import itertools
import os
import pathlib
import re
import socket
import struct
import time

import numpy as np

from keras_prelu.utils.backends import require_tensorflow

_BAD_CHARS = re.compile(r"[^A-Za-z0-9_./-]")


def summary_name(name):
    """A summary tag TensorBoard accepts: odd characters (such as `#`) become `_`."""
    return _BAD_CHARS.sub("_", name)


@functools.cache
def _metadata(plugin):
    """The SummaryMetadata of TensorBoard's "scalars" or "histograms" plugin."""
    from tensorflow.core.framework import summary_pb2

    data_class = {
        "scalars": summary_pb2.DATA_CLASS_SCALAR,
        "histograms": summary_pb2.DATA_CLASS_TENSOR,
    }[plugin]
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin, content=b""),
        data_class=data_class,
    )


def histogram_buckets(values, bins=30):
    """TensorBoard's histogram tensor: rows of (left edge, right edge, count)."""
    values = np.asarray(values, dtype="float64").ravel()
    values = values[np.isfinite(values)]  # NaN or inf have no bucket
    if values.size == 0:
        return np.zeros((0, 3))
    low, high = float(values.min()), float(values.max())
    if low == high:
        return np.array([[low - 0.5, high + 0.5, float(values.size)]])
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    return np.stack([edges[:-1], edges[1:], counts.astype("float64")], axis=1)


def _summaries(scalars, histograms, prefix):
    """(tag, plugin, tensor) to write: float32 scalars, then float64 histogram buckets."""
    for name, value in (scalars or {}).items():
        if value is not None:
            with np.errstate(over="ignore"):  # beyond float32's range: inf, as in TensorFlow
                tensor = np.asarray(float(value), dtype="float32")
            yield summary_name(prefix + name), "scalars", tensor
    for name, values in (histograms or {}).items():
        values = np.asarray(values, dtype="float64").ravel()
        if values.size:
            yield summary_name(prefix + name), "histograms", histogram_buckets(values)


def _importable_tensorflow():
    """The `tensorflow` module, or None where it cannot be imported."""
    try:
        import tensorflow
    except ImportError:
        return None
    return tensorflow


class SummaryLogger:
    """Writes scalars and histograms to `log_dir` (complete after each write); a no-op without a
    log dir.

    The event file is created on the first `write`, by TensorFlow where it is importable, else by
    the pure-Python writer of this module.

    Args:
        log_dir: TensorBoard log directory, or None.
        pure_python: write with the pure-Python writer even where TensorFlow is importable.
    """

    def __init__(self, log_dir, pure_python=False):
        self.log_dir = log_dir
        self.pure_python = bool(pure_python)
        self._writer = None

    def write(self, step, scalars=None, histograms=None, prefix=""):
        """Scalars ({name: number or None}) and histograms ({name: values}) at `step`; None and
        empty entries are skipped, names get `prefix` and pass through `summary_name`."""
        if self.log_dir is None:
            return
        if self._writer is None:
            tf = None if self.pure_python else _importable_tensorflow()
            if tf is None:
                self._writer = _EventFile(self.log_dir)
            else:
                self._writer = _TensorFlowWriter(tf, self.log_dir)
        self._writer.write(int(step), _summaries(scalars, histograms, prefix))

    def flush(self):
        if self._writer is not None:
            self._writer.flush()


class _TensorFlowWriter:
    """Summaries through `tf.summary.write`, flushed after each write."""

    def __init__(self, tf, log_dir):
        self._tf = tf
        self._writer = tf.summary.create_file_writer(log_dir)

    def write(self, step, summaries):
        tf = self._tf
        step = tf.constant(step, tf.int64)
        with self._writer.as_default():
            for tag, plugin, tensor in summaries:
                tf.summary.write(tag, tf.constant(tensor), step=step, metadata=_metadata(plugin))
        self._writer.flush()

    def flush(self):
        self._writer.flush()


# ---------------------------------------------------------------------------
# The pure-Python writer: protocol buffers, CRC32C, TFRecord framing
# ---------------------------------------------------------------------------

_WRITER_NAME = b"keras_prelu.utils.summaries"
_FILE_IDS = itertools.count()  # like TensorFlow's, unique within the process
# tensorflow.DataType and tensorflow.DataClass values.
_DTYPES = {np.dtype("float32"): 1, np.dtype("float64"): 2}  # DT_FLOAT, DT_DOUBLE
_DATA_CLASSES = {"scalars": 1, "histograms": 2}  # DATA_CLASS_SCALAR, DATA_CLASS_TENSOR


def _varint(number):
    """Protobuf base-128 varint; a negative int64 as its 64-bit two's complement."""
    number &= (1 << 64) - 1
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _int_field(field, number):
    """A varint field (int64, enum); proto3 leaves out zero."""
    return _varint(field << 3) + _varint(number) if number else b""


def _bytes_field(field, data):
    """A string or bytes field; proto3 leaves out the empty one."""
    return _message_field(field, data) if data else b""


def _message_field(field, body):
    """A length-delimited field, written even when empty (a set sub-message)."""
    return _varint(field << 3 | 2) + _varint(len(body)) + body


def _double_field(field, number):
    return _varint(field << 3 | 1) + struct.pack("<d", number)


def _tensor_proto(tensor):
    """TensorProto {dtype = 1; tensor_shape = 2 {dim = 2 {size = 1}}; tensor_content = 4}."""
    shape = b"".join(_message_field(2, _int_field(1, size)) for size in tensor.shape)
    content = np.ascontiguousarray(tensor, dtype=tensor.dtype.newbyteorder("<")).tobytes()
    return (_int_field(1, _DTYPES[tensor.dtype]) + _message_field(2, shape)
            + _bytes_field(4, content))


def _summary_event(wall_time, step, tag, plugin, tensor):
    """Event {wall_time = 1; step = 2; summary = 5 {value = 1 {tag = 1; tensor = 8;
    metadata = 9 {plugin_data = 1 {plugin_name = 1}; data_class = 4}}}}."""
    metadata = (_message_field(1, _bytes_field(1, plugin.encode()))
                + _int_field(4, _DATA_CLASSES[plugin]))
    value = (_bytes_field(1, tag.encode()) + _message_field(8, _tensor_proto(tensor))
             + _message_field(9, metadata))
    summary = _message_field(1, value)
    return _double_field(1, wall_time) + _int_field(2, step) + _message_field(5, summary)


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # Castagnoli, reflected
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def _crc32c(data):
    """CRC-32C (Castagnoli) of `data`, as TFRecord files use it."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc32c(data):
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _record(payload):
    """One TFRecord: length (uint64 LE), its masked CRC32C, the payload, the payload's."""
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", _masked_crc32c(length)) + payload
            + struct.pack("<I", _masked_crc32c(payload)))


class _EventFile:
    """An event file written without TensorFlow, named like TensorFlow's
    (`events.out.tfevents.<seconds>.<host>.<pid>.<id>.v2`); opened, appended to and closed on
    each write, so whatever has been written is complete on disk."""

    def __init__(self, log_dir):
        os.makedirs(log_dir, exist_ok=True)
        seconds = int(time.time())
        name = (f"events.out.tfevents.{seconds:010d}.{socket.gethostname()}.{os.getpid()}."
                f"{next(_FILE_IDS)}.v2")
        self.path = os.path.join(log_dir, name)
        # Event {wall_time = 1; file_version = 3; source_metadata = 10 {writer = 1}}
        first = (_double_field(1, float(seconds)) + _bytes_field(3, b"brain.Event:2")
                 + _message_field(10, _bytes_field(1, _WRITER_NAME)))
        with open(self.path, "wb") as handle:
            handle.write(_record(first))

    def write(self, step, summaries):
        records = b"".join(
            _record(_summary_event(time.time(), step, tag, plugin, tensor))
            for tag, plugin, tensor in summaries
        )
        if records:
            with open(self.path, "ab") as handle:
                handle.write(records)

    def flush(self):
        """Nothing to do: each write closes the file."""


# ---------------------------------------------------------------------------
# Reading (TensorFlow)
# ---------------------------------------------------------------------------


def scalar_events(log_dir):
    """(event file path, tag, step, value) for every scalar under `log_dir`, file by file.

    Needs TensorFlow: an ImportError in one line without it."""
    tf = require_tensorflow("Reading TensorBoard event files")
    for path in sorted(pathlib.Path(log_dir).rglob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    yield path, value.tag, int(event.step), float(tf.make_ndarray(value.tensor))


def read_scalars(log_dir, by_split=False):
    """{tag: [(step, value), ...]} from the event files under `log_dir` (needs TensorFlow).

    With `by_split=True`: {split: {tag: [...]}}, the split being the folder
    holding the event file (a run's `logs/train`, `logs/validation`).
    """
    found = {}
    for path, tag, step, value in scalar_events(log_dir):
        series = found.setdefault(path.parent.name, {}) if by_split else found
        series.setdefault(tag, []).append((step, value))
    return found
