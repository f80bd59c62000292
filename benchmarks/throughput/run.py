"""Throughput and API latency: fedadmet against ADMET-AI on the same molecules and machine.

    .venv/bin/python -m benchmarks.throughput.run                # 5,000 molecules, 2 alternating rounds, 60 s API load
    .venv/bin/python -m benchmarks.throughput.run --quick        # 500 molecules, 1 round, 10 s API load

Both tools run as whole processes (start-up, model loading, reading and writing files included) on the
same CSV, alternating. Each run's peak memory is sampled from /proc over its whole process tree as the
summed proportional set size (PSS: a page shared by forked workers counts once in total); the summed
resident sets, which count such a page once per process, are reported beside it.
ADMET-AI (pip package ``admet-ai``) is installed into its own virtual environment under
benchmarks/cache/ on first use (benchmarks/admet_ai.py).
fedadmet runs the bundled default model (the served recipe: the TDC-scored family trained on every public
label, CatBoost heads with 1000 iterations), and returns the full profile: every endpoint it serves,
with uncertainty, applicability domain and structural alerts.

The API part starts `fedadmet serve` in its own process and sends single-molecule POST /v1/predict
requests from 20 concurrent clients on loopback for 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

import fedadmet
from benchmarks.admet_ai import ADMET_AI_VERSION, admet_ai_command
from fedadmet.data.public import approved_drugs, public_training_frames

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "benchmarks" / "cache" / "throughput"
RESULTS = REPO / "benchmarks" / "results"


def molecules_file(n: int) -> Path:
    """``n`` distinct molecules (seed 0) from the bundled public data sets: drug-like and screening chemistry."""
    path = CACHE / f"molecules_{n}.csv"
    if not path.is_file():
        pool = pd.concat([frame["smiles"] for frame in public_training_frames().values()]).drop_duplicates()
        chosen = pool.sample(n=n, random_state=0) if len(pool) > n else pool
        CACHE.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"smiles": chosen.to_numpy()}).to_csv(path, index=False)
    return path


def _process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from the kernel's per-thread child lists (cheap to read)."""
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return tree


def _summed_kb(pids: list[int], file_name: str, field: str) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/{file_name}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def _cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far (fields 14 and 15 of /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def timed_run(command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall time and peak process-tree memory (proportional and resident) of one whole-process run.

    Resident sets are read every 20 ms; proportional sets, whose file costs ~6 ms of kernel time per
    process to produce, every 0.5 s, so that the sampler takes a few percent of a core from the run
    it measures instead of half of one (memory plateaus last seconds, so the peak is still seen)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_rss = peak_pss = 0.0
    next_pss = started
    while process.poll() is None:
        tree = _process_tree(process.pid)
        peak_rss = max(peak_rss, _summed_kb(tree, "status", "VmRSS:") / 1024)
        if time.perf_counter() >= next_pss:
            peak_pss = max(peak_pss, _summed_kb(tree, "smaps_rollup", "Pss:") / 1024)
            next_pss += 0.5
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {process.stderr.read()[-2000:]}")
    return {"seconds": seconds, "peak_mb": peak_pss, "peak_rss_sum_mb": peak_rss}


def throughput(n_molecules: int, rounds: int) -> dict[str, object]:
    source = molecules_file(n_molecules)
    admet_ai = admet_ai_command()
    work = Path(tempfile.mkdtemp(prefix="throughput-"))
    env = os.environ | {"FEDADMET_HOME": str(work / "home"), "FEDADMET_PROGRESS": "false"}
    commands = {
        "fedadmet": [str(REPO / ".venv" / "bin" / "fedadmet"), "predict", str(source), "-o", str(work / "fed.csv")],
        "admet_ai": [
            str(admet_ai),
            "--data_path", str(source),
            "--save_path", str(work / "admet_ai.csv"),
            "--smiles_column", "smiles",
        ],
    }  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for round_number in range(rounds):
        order = list(commands) if round_number % 2 == 0 else list(reversed(commands))
        for name in order:
            result = timed_run(commands[name], env)
            runs[name].append(result)
            print(f"round {round_number + 1} {name}: {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB", flush=True)
    profiles = pd.read_csv(work / "fed.csv")
    fed_rows = len(profiles)
    admet_rows = len(pd.read_csv(work / "admet_ai.csv"))
    best = {name: min(r["seconds"] for r in results) for name, results in runs.items()}
    return {
        "molecules": n_molecules,
        "endpoints": sum(f"{column}_uncertainty" in profiles.columns for column in profiles.columns),
        "fedadmet_mol_per_s": round(n_molecules / best["fedadmet"], 2),
        "admet_ai_mol_per_s": round(n_molecules / best["admet_ai"], 2),
        "ratio": round(best["admet_ai"] / best["fedadmet"], 3),
        "fedadmet_peak_mb": round(max(r["peak_mb"] for r in runs["fedadmet"]), 1),
        "admet_ai_peak_mb": round(max(r["peak_mb"] for r in runs["admet_ai"]), 1),
        "fedadmet_peak_rss_sum_mb": round(max(r["peak_rss_sum_mb"] for r in runs["fedadmet"]), 1),
        "admet_ai_peak_rss_sum_mb": round(max(r["peak_rss_sum_mb"] for r in runs["admet_ai"]), 1),
        "runs": runs,
        "rows_written": {"fedadmet": fed_rows, "admet_ai": admet_rows},
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _load(base: str, key: str, smiles: list[str], clients: int, seconds: float) -> tuple[list[float], dict]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=30) as session:
            i = index
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    answer = await session.post("/v1/predict", json={"smiles": [smiles[i % len(smiles)]]})
                    code = answer.status_code
                except httpx.HTTPError:
                    code = 599
                latencies.append(time.perf_counter() - started)
                statuses[code] = statuses.get(code, 0) + 1
                i += clients

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, statuses


def api_latency(clients: int, seconds: float) -> dict[str, object]:
    port = _free_port()
    home = Path(tempfile.mkdtemp(prefix="throughput-api-"))
    env = os.environ | {"FEDADMET_HOME": str(home), "FEDADMET_PORT": str(port), "FEDADMET_PROGRESS": "false"}
    server = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "fedadmet"), "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    threading.Thread(target=lambda: server.stdout.read() if server.stdout else None, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200 and (home / "local_api_key").is_file():
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("fedadmet serve did not start")
            time.sleep(0.5)
        key = (home / "local_api_key").read_text().strip()
        smiles = approved_drugs()["smiles"].head(500).tolist()
        asyncio.run(_load(base, key, smiles, clients, 3.0))  # warm-up, not counted
        workers = _process_tree(server.pid)[1:]
        before = (_cpu_seconds([server.pid]), _cpu_seconds(workers), time.process_time())
        latencies, statuses = asyncio.run(_load(base, key, smiles, clients, seconds))
        after = (_cpu_seconds([server.pid]), _cpu_seconds(workers), time.process_time())
        workers_replaced = _process_tree(server.pid)[1:] != workers  # then their CPU time was partly lost
    finally:
        server.terminate()
        server.wait(timeout=30)
    milliseconds = np.asarray(latencies) * 1000
    return {
        "api_clients": clients,
        "api_seconds": seconds,
        "api_requests": len(latencies),
        "api_requests_per_s": round(len(latencies) / seconds, 1),
        "api_p50_ms": round(float(np.percentile(milliseconds, 50)), 1),
        "api_p99_ms": round(float(np.percentile(milliseconds, 99)), 1),
        "api_status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "api_errors": sum(v for k, v in statuses.items() if k >= 500),
        # Where a request's CPU goes: the server's event loop, its child processes (the profile workers and
        # multiprocessing's resource tracker), the clients.
        "api_cpu_ms_per_request": {
            part: None
            if part == "workers" and workers_replaced
            else round((end - start) * 1000 / max(len(latencies), 1), 2)
            for part, start, end in zip(("server", "workers", "load_generator"), before, after, strict=True)
        },
    }


def write_results(result: dict[str, object], name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Throughput — fedadmet {result['fedadmet_version']} vs ADMET-AI {result['admet_ai_version']}",
        "",
        f"Full profile for every molecule ({result['endpoints']} endpoints, uncertainty, applicability domain, "
        "PAINS/Brenk/NIH alerts) from the bundled default model (the served recipe).",
        "",
        "| measure | fedadmet | ADMET-AI |",
        "|---|---|---|",
        f"| molecules per second ({result['molecules']} molecules, whole process, best of "
        f"{len(result['runs']['fedadmet'])}) | {result['fedadmet_mol_per_s']} | {result['admet_ai_mol_per_s']} |",
        f"| ratio (fedadmet / ADMET-AI) | {result['ratio']}× | 1× |",
        f"| peak memory, MB (process tree, proportional set size) | {result['fedadmet_peak_mb']} "
        f"| {result['admet_ai_peak_mb']} |",
        f"| peak memory, MB (process tree, summed resident sets) | {result['fedadmet_peak_rss_sum_mb']} "
        f"| {result['admet_ai_peak_rss_sum_mb']} |",
        f"| API p50 / p99, ms ({result['api_clients']} clients, {result['api_seconds']:.0f} s, single molecule) "
        f"| {result['api_p50_ms']} / {result['api_p99_ms']} | – |",
        f"| API requests / 5xx | {result['api_requests']} / {result['api_errors']} | – |",
        "| API CPU per request, ms (server / profile workers / load generator) | "
        + " / ".join(str(v) for v in result["api_cpu_ms_per_request"].values())
        + " | – |",
        "",
        f"Targets: ratio ≥ 10× ({'met' if result['ratio'] >= 10 else 'not met'}), peak memory (PSS) no higher than "
        f"ADMET-AI's ({'met' if result['fedadmet_peak_mb'] <= result['admet_ai_peak_mb'] else 'not met'}), "
        f"API p99 ≤ 100 ms ({'met' if result['api_p99_ms'] <= 100 else 'not met'}), zero 5xx "
        f"({'met' if result['api_errors'] == 0 else 'not met'}).",
        "",
        f"Command: `{result['command']}`; {result['machine']}.",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--molecules", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2, help="Alternating runs of each tool.")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--api-seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="500 molecules, 1 round, 10 s of API load.")
    args = parser.parse_args()
    if args.quick:
        args.molecules, args.rounds, args.api_seconds = 500, 1, 10.0
    result = throughput(args.molecules, args.rounds)
    result |= api_latency(args.clients, args.api_seconds)
    result |= {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "admet_ai_version": ADMET_AI_VERSION,
        "fedadmet_version": fedadmet.__version__,
        "command": "python -m benchmarks.throughput.run" + (" --quick" if args.quick else ""),
    }
    write_results(result, "throughput_quick" if args.quick else "throughput")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
