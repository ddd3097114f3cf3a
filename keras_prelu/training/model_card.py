"""The model card of a finished run: what was trained, on what, how, and how well (JSON and Markdown)."""


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {_format(v)}" for k, v in value.items())
    return str(value)


def model_card_markdown(card):
    """A short human-readable card from the model-card dict."""
    lines = [f"# {card.get('model', 'model')} on {card.get('dataset', {}).get('name', '?')}", ""]
    results = card.get("results", {})
    if results:
        lines += ["## Results", ""]
        if "test_accuracy" in results:
            lines.append(f"- test accuracy: **{100 * results['test_accuracy']:.2f}%** "
                         f"({results.get('test_examples', '?')} images, split "
                         f"`{card.get('dataset', {}).get('test_split', 'test')}`)")
        for key, value in results.items():
            if key not in ("test_accuracy",):
                lines.append(f"- {key.replace('_', ' ')}: {_format(value)}")
        lines.append("")
    for section in ("model_info", "dataset", "recipe", "training", "environment"):
        if card.get(section):
            lines += [f"## {section.replace('_', ' ').capitalize()}", ""]
            for key, value in card[section].items():
                lines.append(f"- {key.replace('_', ' ')}: {_format(value)}")
            lines.append("")
    if card.get("command"):
        lines += ["## Command", "", "```", card["command"], "```", ""]
    return "\n".join(lines)
