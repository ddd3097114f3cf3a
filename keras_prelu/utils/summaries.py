"""TensorBoard summaries, written with TensorFlow's core `tf.summary.write`.

TensorFlow no longer depends on the `tensorboard` package, whose
`tf.summary.scalar`/`histogram` fail without it; the core writer plus the
plugin metadata TensorBoard expects ("scalars", "histograms") produces the
same event files with TensorFlow alone. The writer is created lazily.

TensorFlow is imported only where event files are written or read, so this
module (and the diagnostics' callbacks, without a `log_dir`) work without it;
a `log_dir` without TensorFlow is refused with one line.
"""

import functools
import pathlib
import re

import numpy as np

from keras_prelu.utils.backends import require_tensorflow

_BAD_CHARS = re.compile(r"[^A-Za-z0-9_./-]")


def summary_name(name):
    """A summary tag TensorBoard accepts: odd characters (such as `#`) become `_`."""
    return _BAD_CHARS.sub("_", name)


def _tensorflow():
    return require_tensorflow("TensorBoard event files (log_dir)")


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


class SummaryLogger:
    """Writes scalars and histograms to `log_dir` (flushed after each write); a no-op without a log dir.

    A `log_dir` needs TensorFlow (its event-file writer): without it the constructor raises an
    ImportError."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self._writer = None
        if log_dir is not None:
            _tensorflow()

    def write(self, step, scalars=None, histograms=None, prefix=""):
        if self.log_dir is None:
            return
        tf = _tensorflow()
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        step = tf.constant(int(step), tf.int64)
        with self._writer.as_default():
            for name, value in (scalars or {}).items():
                if value is not None:
                    tf.summary.write(
                        summary_name(prefix + name),
                        tf.constant(float(value), tf.float32),
                        step=step,
                        metadata=_metadata("scalars"),
                    )
            for name, values in (histograms or {}).items():
                values = np.asarray(values, dtype="float64").ravel()
                if values.size:
                    tf.summary.write(
                        summary_name(prefix + name),
                        tf.constant(histogram_buckets(values)),
                        step=step,
                        metadata=_metadata("histograms"),
                    )
        self._writer.flush()

    def flush(self):
        if self._writer is not None:
            self._writer.flush()


def scalar_events(log_dir):
    """(event file path, tag, step, value) for every scalar under `log_dir`, file by file."""
    tf = _tensorflow()
    for path in sorted(pathlib.Path(log_dir).rglob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    yield path, value.tag, int(event.step), float(tf.make_ndarray(value.tensor))


def read_scalars(log_dir, by_split=False):
    """{tag: [(step, value), ...]} from the event files under `log_dir`.

    With `by_split=True`: {split: {tag: [...]}}, the split being the folder
    holding the event file (a run's `logs/train`, `logs/validation`).
    """
    found = {}
    for path, tag, step, value in scalar_events(log_dir):
        series = found.setdefault(path.parent.name, {}) if by_split else found
        series.setdefault(tag, []).append((step, value))
    return found
