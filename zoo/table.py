"""Print a Markdown table of the registered model families: `python -m zoo.table [PATTERN ...]`."""

import sys

from zoo import blocks, registry


def _suffix(entry):
    """The activation suffix of a registered name ("prelu" for "resnet20_prelu"), or None."""
    return entry.name[len(entry.arch) + 1 :] or None


def rows(include="*", exclude=None):
    """One dict per family: family, variants, depths, activations, params (of ReLU variants)."""
    suffix_order = list(blocks.ACTIVATION_SUFFIXES)
    families = {}
    for name in registry.list_models(include, exclude):
        entry = registry.entry(name)
        arch, suffix = entry.arch, _suffix(entry)
        family = families.setdefault(
            entry.family, {"variants": {}, "activations": [], "paper": entry.paper}
        )
        family["variants"].setdefault(arch, []).append(name)
        if suffix in suffix_order and suffix not in family["activations"]:
            family["activations"].append(suffix)
    first_registered = {}
    for position, registered in enumerate(registry.entries()):
        first_registered.setdefault(registered.family, position)
    table = []
    for family_name in sorted(families, key=first_registered.get):
        family = families[family_name]
        family["activations"].sort(key=suffix_order.index)
        depths, params = [], []
        for arch, names in family["variants"].items():
            relu = [n for n in names if _suffix(registry.entry(n)) == "relu"]
            details = registry.info((relu or names)[0])
            depths.append(details["depth"])
            params.append(details["params"])
        table.append(
            {
                "family": family_name,
                "variants": list(family["variants"]),
                "depths": depths,
                "activations": family["activations"],
                "params": params,
                "paper": family["paper"],
            }
        )
    return table


def _format_params(count):
    return f"{count / 1e6:.2f}M" if count >= 10_000 else f"{count:,}"


def markdown(include="*", exclude=None):
    """The Markdown table of `rows(include, exclude)`."""
    lines = [
        "| Family | Variants | Depths | Activations (suffixes) "
        "| Parameters (ReLU, default classes) | Follows |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows(include, exclude):
        cells = [
            f"`{row['family']}`",
            ", ".join(f"`{v}`" for v in row["variants"]),
            ", ".join("-" if d is None else str(d) for d in row["depths"]),
            ", ".join(f"`_{a}`" for a in row["activations"]) or "-",
            ", ".join(_format_params(p) for p in row["params"]),
            row["paper"] or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    patterns = sys.argv[1:] if argv is None else argv
    print(markdown(patterns or "*"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
