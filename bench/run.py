"""Benchmark: labctl against a sequential boto3 script and a sequential aws CLI script,
on the shipped lab, through the project's proxy adding 50 ms to every call.

    bench/run.sh [ROUNDS]      (builds labctl, creates the venvs, starts moto)

Prints a Markdown table (also written to bench/results.md).
"""

import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PY = ROOT / ".venv/bin/python"
AWS = ROOT / "bench/.venv/bin/aws"
LABCTL = (
    pathlib.Path(os.environ.get("CARGO_TARGET_DIR", pathlib.Path.home() / ".cache/labctl/target"))
    / "debug/labctl"
)
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
LATENCY = 50


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def start_moto():
    port = free_port()
    p = subprocess.Popen(
        [
            PY,
            ROOT / "tests/support/moto_launcher.py",
            "--parent-pid",
            str(os.getpid()),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return p, f"http://127.0.0.1:{port}"


class Proxy:
    def __init__(self, upstream, tmp, extra=()):
        self.log = pathlib.Path(tempfile.mktemp(dir=tmp, suffix=".jsonl"))
        port_file = pathlib.Path(tempfile.mktemp(dir=tmp))
        self.p = subprocess.Popen(
            [
                PY,
                ROOT / "tests/support/faultproxy.py",
                "--upstream",
                upstream,
                "--port-file",
                port_file,
                "--latency-ms",
                str(LATENCY),
                "--log",
                self.log,
                "--parent-pid",
                str(os.getpid()),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"

    def calls(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self):
        self.p.kill()
        self.p.wait()


def env(endpoint):
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
        NO_COLOR="1",
        LABCTL_PYTHON=str(PY),
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    return e


def timed(cmd, endpoint, check=True, rss=False):
    """Runs cmd; returns (seconds, stdout, max RSS in KB or None)."""
    rss_file = tempfile.mktemp()
    full = (["/usr/bin/time", "-o", rss_file, "-f", "%M"] if rss else []) + [str(c) for c in cmd]
    t = time.perf_counter()
    r = subprocess.run(full, env=env(endpoint), capture_output=True, text=True)
    dt = time.perf_counter() - t
    if check and r.returncode != 0:
        raise SystemExit(f"{cmd} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    kb = int(pathlib.Path(rss_file).read_text().split()[-1]) if rss else None
    return dt, r.stdout, kb


def chain(calls):
    """Longest chain of calls each starting after the previous ended, by measured durations."""
    calls = sorted(calls, key=lambda c: c["end"])
    best = []
    for i, c in enumerate(calls):
        prev = [best[j] for j in range(i) if calls[j]["end"] <= c["start"] + 1e-4]
        best.append((c["end"] - c["start"]) + max(prev, default=0.0))
    return max(best, default=0.0)


def graph_path(report):
    """Longest path through the apply graph, each action at its measured duration:
    (seconds, the actions on it, first to last)."""
    acts = report["actions"]
    memo = {}

    def cp(i):
        if i not in memo:
            a = acts[i]
            own = (a.get("end_ms", 0) - a.get("start_ms", 0)) / 1000
            before = max((cp(d) for d in a["depends_on"]), default=(0.0, []))
            memo[i] = (own + before[0], before[1] + [i])
        return memo[i]

    total, path = max((cp(i) for i in range(len(acts))), default=(0.0, []))
    steps = [
        f"{acts[i]['kind']} {acts[i]['name']} {(acts[i].get('end_ms', 0) - acts[i].get('start_ms', 0)) / 1000:.2f} s"
        for i in path
    ]
    return total, steps


def main():
    moto, upstream = start_moto()
    tmp = tempfile.mkdtemp()
    lab_dir = pathlib.Path(tmp) / "lab"
    lab_dir.mkdir()
    # Both sides do the same work: the scripts make the buckets, role, layer, functions,
    # triggers, subnets and group, so the lab here stops before the instance, the
    # catalog, Athena and the checks.
    shipped = (ROOT / "lab.yaml").read_text()
    base = (
        shipped[: shipped.index("\n# One machine to SSH into")]
        .replace("lab: photo-lab", "lab: bench")
        .replace("code: lambdas/", f"code: {ROOT}/lambdas/")
    )
    lab = lab_dir / "lab.yaml"
    lab.write_text(base)
    layer_zip = None
    rows = {}

    def add(key, seconds, calls=None, writes=None):
        rows.setdefault(key, {"t": [], "calls": [], "writes": []})
        rows[key]["t"].append(seconds)
        if calls is not None:
            rows[key]["calls"].append(calls)
        if writes is not None:
            rows[key]["writes"].append(writes)

    def labctl(key, *args, measure=True):
        proxy = Proxy(upstream, tmp)
        dt, out, kb = timed([LABCTL, "-f", lab, *args], proxy.url, rss=True)
        calls = proxy.calls()
        proxy.stop()
        if measure:
            add(key, dt, len(calls), sum(c["write"] for c in calls))
        return out, calls, kb

    # Warm-up: builds the layer into labctl's cache and wakes moto's EC2.
    labctl("warm", "apply", "--auto-approve", measure=False)
    labctl("warm", "destroy", "--auto-approve", "--empty-buckets", measure=False)
    cache = pathlib.Path.home() / ".cache/labctl/layers"
    layer_zip = max(cache.glob("*.zip"), key=lambda p: p.stat().st_mtime)
    rss, critical, graph, reads, paths = [], [], [], [], []
    for r in range(ROUNDS):
        out, calls, kb = labctl("labctl cold apply", "apply", "--auto-approve", "--json")
        rss.append(kb)
        report = json.loads(out)
        first_write = min((c["start"] for c in calls if c["write"]), default=None)
        read_phase = [c for c in calls if first_write is None or c["end"] <= first_write]
        reads.append(chain(read_phase))
        g, steps = graph_path(report)
        graph.append(g)
        paths.append(" → ".join(steps))
        critical.append(reads[-1] + graph[-1])
        labctl("labctl no-op plan", "plan")
        labctl("labctl no-op apply", "apply", "--auto-approve")
        lab.write_text(base.replace("memory: 256", "memory: 320"))
        labctl("labctl one-setting change", "apply", "--auto-approve")
        lab.write_text(base)
        labctl("labctl destroy --empty-buckets", "destroy", "--auto-approve", "--empty-buckets")
        for tool, cmd in (
            ("boto3 script", [PY, ROOT / "bench/boto3_lab.py"]),
            ("aws CLI script", ["bash", ROOT / "bench/awscli_lab.sh"]),
        ):
            if tool == "aws CLI script" and not AWS.exists():
                continue
            for step in ("create", "readback", "destroy"):
                proxy = Proxy(upstream, tmp)
                e_path = f"{AWS.parent}:{os.environ['PATH']}"
                t = time.perf_counter()
                res = subprocess.run(
                    [str(c) for c in cmd] + [proxy.url, f"b{r}", str(layer_zip), step],
                    env={**env(proxy.url), "PATH": e_path},
                    capture_output=True,
                    text=True,
                )
                dt = time.perf_counter() - t
                if res.returncode != 0:
                    raise SystemExit(f"{tool} {step} failed:\n{res.stdout}\n{res.stderr}")
                calls = proxy.calls()
                proxy.stop()
                add(f"{tool} {step}", dt, len(calls), sum(c["write"] for c in calls))
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)

    # validate, binary start included
    vt = []
    for _ in range(30):
        t = time.perf_counter()
        subprocess.run(
            [LABCTL, "-f", ROOT / "lab.yaml", "validate"], capture_output=True, check=True
        )
        vt.append(time.perf_counter() - t)

    med = lambda xs: statistics.median(xs)  # noqa: E731
    lines = [
        f"Shipped lab, moto behind the proxy at {LATENCY} ms per call, {ROUNDS} rounds, debug build. Median (min-max) seconds; calls per run.",
        "",
        "| run | seconds | calls | writes |",
        "|---|---|---|---|",
    ]
    for k, v in rows.items():
        lines.append(
            f"| {k} | {med(v['t']):.2f} ({min(v['t']):.2f}-{max(v['t']):.2f}) | {med(v['calls']) if v['calls'] else ''} | {med(v['writes']) if v['writes'] else ''} |"
        )
    cold = med(rows["labctl cold apply"]["t"])
    lines += ["", "| comparison | value |", "|---|---|"]
    for tool in ("boto3 script", "aws CLI script"):
        if f"{tool} create" in rows:
            lines.append(
                f"| {tool} create / labctl cold apply | {med(rows[f'{tool} create']['t']) / cold:.1f}x |"
            )
            lines.append(
                f"| {tool} read-back / labctl no-op plan | {med(rows[f'{tool} readback']['t']) / med(rows['labctl no-op plan']['t']):.1f}x |"
            )
            lines.append(
                f"| {tool} destroy / labctl destroy | {med(rows[f'{tool} destroy']['t']) / med(rows['labctl destroy --empty-buckets']['t']):.1f}x |"
            )
    lines.append(
        f"| labctl cold apply / its critical path ({med(reads):.2f} s reads + {med(graph):.2f} s apply graph = {med(critical):.2f} s) | {cold / med(critical):.2f}x |"
    )
    lines.append(
        f"| labctl no-op plan / depth of its reads ({med(reads):.2f} s) | {med(rows['labctl no-op plan']['t']) / med(reads):.2f}x |"
    )
    lines.append(
        f"| labctl cold apply's longest path through its graph (median round) | {sorted(zip(graph, paths, strict=True))[len(paths) // 2][1]} |"
    )
    lines.append(f"| labctl validate, binary start included | {med(vt) * 1000:.1f} ms |")
    lines.append(f"| labctl cold apply peak memory (max RSS) | {max(rss) / 1024:.0f} MB |")
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench/results.md").write_text(text + "\n")
    moto.kill()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
