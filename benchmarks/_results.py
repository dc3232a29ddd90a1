"""Where the benchmark scripts keep their results: build/benchmarks/NAME.json, also printed."""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def save(name, result):
    out = ROOT / "build" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
