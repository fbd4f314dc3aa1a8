"""Reading metrics in tests: a collector's series as its page shows them, parsed back."""

from __future__ import annotations

from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from logship.plumbing.metrics import new_registry

#: A sample's key: its name and its labels, sorted.
Key = tuple[str, tuple[tuple[str, str], ...]]


def parse_text(text: str) -> dict[Key, float]:
    """
    The samples of a page of Prometheus text, read with prometheus_client's
    own parser.
    """
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(collector: Any) -> dict[Key, float]:
    """
    The samples of C{collector}, rendered as its page renders them and
    parsed back.
    """
    registry = new_registry()
    registry.register(collector)
    return parse_text(generate_latest(registry).decode())


def value(samples: dict[Key, float], name: str, **labels: str) -> float:
    """
    One sample's value.
    """
    return samples[(name, tuple(sorted(labels.items())))]
