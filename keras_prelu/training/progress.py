"""Terminal progress: one bar per epoch (loss, accuracy, images/s, ETA) and a closing summary.

On a terminal the bar redraws in place; elsewhere (logs, pipes) it prints a
line at most every `interval` seconds and one at the end of each epoch.
"""

import sys
import time

MODES = ("auto", "bar", "lines", "none")


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class EpochProgress:
    """Progress of the epochs of one run; call `start(epoch)`, `update(...)`, `end(...)`."""

    def __init__(self, epochs, mode="auto", stream=None, width=24, interval=10.0):
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {list(MODES)}. Received: mode={mode!r}")
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode
        self.epochs = epochs
        self.width = width
        self.interval = float(interval)
        self._epoch = 0
        self._last_print = 0.0

    def _write(self, text, end="\n"):
        if self.mode == "none":
            return
        self.stream.write(text + end)
        self.stream.flush()

    def start(self, epoch):
        self._epoch = epoch
        self._last_print = time.monotonic()

    def _line(self, done, total, result):
        digits = len(str(total))
        head = f"epoch {self._epoch + 1:>{len(str(self.epochs))}}/{self.epochs}"
        filled = int(self.width * done / total) if total else self.width
        bar = "=" * filled + (">" if filled < self.width else "") + "." * max(0, self.width - filled - 1)
        rate = result.get("images_per_second", float("nan"))
        seconds = result.get("seconds", 0.0)
        eta = seconds / done * (total - done) if done else 0.0
        tail = f"ETA {_duration(eta)}" if done < total else _duration(seconds)
        return (
            f"{head} [{bar}] {done:>{digits}}/{total} loss {result['loss']:.4f} "
            f"acc {result['accuracy']:.4f} {rate:,.0f} img/s {tail}"
        )

    def update(self, done, total, result):
        """After a compiled call: `done` of `total` steps, running `result` (loss, accuracy, images/s)."""
        if self.mode == "bar":
            self._write("\r" + self._line(done, total, result), end="")
        elif self.mode == "lines" and done < total and time.monotonic() - self._last_print >= self.interval:
            self._last_print = time.monotonic()
            self._write(self._line(done, total, result))

    def end(self, result, steps, val=None, lr=None, note=""):
        """The epoch's closing line: training figures, then validation, learning rate, checkpoint note."""
        line = self._line(steps, steps, result)
        if val is not None:
            line += f" | val_loss {val['loss']:.4f} val_acc {val['accuracy']:.4f}"
        if lr is not None:
            line += f" | lr {lr:.3g}"
        if note:
            line += f" | {note}"
        self._write(("\r" + line) if self.mode == "bar" else line)


def summary(rows, stream=None, title="summary"):
    """Print `rows` ((label, value) pairs) as an aligned block."""
    stream = stream or sys.stdout
    width = max(len(label) for label, _ in rows)
    stream.write(f"{title}\n")
    for label, value in rows:
        stream.write(f"  {label:<{width}}  {value}\n")
    stream.flush()
