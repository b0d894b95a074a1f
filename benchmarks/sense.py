"""The cost of tcra's metrics endpoint at 1,000 sites and 10,000 workloads, beside a baseline,
in one run, printing ratios.

- tcra: a Sensor over a SQLite store holding 10,000 placements (services of 10 workloads, each
  with a latency budget and estimates) on a 1,000-site continuum (benchmarks/api.py's): the
  store read (what the sensor's thread does every few seconds) and the scrape (what Prometheus
  waits for: the latest reading formatted, accounting included).
- baseline: the conventional exporter with the same samples: prometheus_client's labelled
  Gauges, set once, scraped by the same generate_latest.
Memory: tracemalloc's peak while reading and scraping. Target: a scrape <= 1 s.
Run: .venv/bin/python benchmarks/sense.py [--sites 1000] [--workloads 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from api import continuum, store_with
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tcra.sense.metrics import Sensor


def timed(action: Callable[[], object], runs: int) -> float:
    """Median seconds of `runs` calls."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def baseline(text: str) -> CollectorRegistry:
    """Labelled Gauges holding every sample of `text`, set once, as an instrumented program
    would hold them."""
    registry = CollectorRegistry()
    for family in text_string_to_metric_families(text):
        if not family.samples:
            continue
        labels = sorted(family.samples[0].labels)
        gauge = Gauge(family.name, family.documentation or family.name, labels,
                      registry=registry)
        for sample in family.samples:
            gauge.labels(**sample.labels).set(sample.value)
    return registry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        kubeconfig = Path(folder) / "kubeconfig"
        kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
        inventory = continuum(args.sites, kubeconfig)
        store = store_with(f"sqlite:///{folder}/mco.db", inventory, args.workloads)
        sensor = Sensor(inventory, store)
        registry = CollectorRegistry()
        registry.register(sensor)
        tracemalloc.start()
        sensor.read_store()
        text = generate_latest(registry)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        read = timed(sensor.read_store, args.runs)
        scrape = timed(lambda: generate_latest(registry), args.runs)
        plain = baseline(text.decode())
        base = timed(lambda: generate_latest(plain), args.runs)
    samples = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    print(f"{args.sites} sites, {args.workloads} workloads: {samples} samples,"
          f" {len(text) / 1e6:.1f} MB of text")
    print(f"  store read (every few seconds)  {read * 1000:8.1f} ms")
    print(f"  scrape, tcra                    {scrape * 1000:8.1f} ms   target <= 1000 ms")
    print(f"  scrape, baseline (set Gauges)   {base * 1000:8.1f} ms")
    print(f"  ratio tcra / baseline           {scrape / base:8.2f}")
    print(f"  peak memory (read + scrape)     {peak / 2**20:8.1f} MiB")


if __name__ == "__main__":
    main()
