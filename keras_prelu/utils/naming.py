"""Ordering names as people read them."""

import re


def natural_key(name):
    """Sort key that orders embedded numbers by value: "resnet20" before "resnet110"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
