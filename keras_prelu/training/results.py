"""What a run of training or evaluation steps returns, for every trainer."""


class EpochResult(dict):
    """Summed results of training steps: loss, accuracy, examples, steps, seconds, images_per_second."""


def epoch_result(loss_sum, correct, count, steps, seconds):
    """An `EpochResult` from summed loss and correct predictions over `count` examples."""
    count = float(count)
    return EpochResult(
        loss=float(loss_sum) / count if count else float("nan"),
        accuracy=float(correct) / count if count else float("nan"),
        examples=int(count),
        steps=int(steps),
        seconds=float(seconds),
        images_per_second=count / seconds if seconds > 0 else float("nan"),
    )
