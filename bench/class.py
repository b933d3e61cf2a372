"""Class-mode benchmark: the shipped lab for a roster of students in one shared account,
moto behind the project's proxy adding 50 ms to every call.

    bench/run.sh class [STUDENTS]      (default 200)

Measures the class's cold apply, no-op plan and destroy against one lab's cold apply,
the calls per student, the time the per-service rate limits impose, peak memory, and
a 30-student apply through the proxy answering 10% of calls with throttling errors.
The lab is the shipped one without `network` and `instances`: one account's default
VPC cannot hold fixed subnets for every student (labctl refuses that class).
Prints a Markdown table (also written to bench/class-results.md).
"""

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

from run import LABCTL, LATENCY, ROOT, Proxy, env, start_moto, timed

STUDENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
# What labctl's limiter allows per service (src/aws/limit.rs), requests per second.
RATES = {
    "lambda": 12,
    "lambda:GetFunction": 80,
    "lambda:GetPolicy": 12,
    "iam": 8,
    "ec2": 20,
    "s3": 100,
    "sts": 20,
    "events": 10,
    "logs": 10,
    "glue": 20,
    "athena": 10,
    "ssm": 20,
}


def class_lab():
    text = (ROOT / "lab.yaml").read_text()
    start = text.index("\nnetwork:")
    end = text.index("\n# Athena over the backups")
    return (
        (text[:start] + text[end:])
        .replace("lab: photo-lab", "lab: c")
        .replace("code: lambdas/", f"code: {ROOT}/lambdas/")
        .replace(": queries/", f": {ROOT}/queries/")
    )


def family(c):
    """The budget a call draws on, as src/aws/limit.rs meters it."""
    s = c.get("service", "other")
    if s == "lambda" and c.get("action") in ("GetFunction", "GetPolicy"):
        return f"lambda:{c['action']}"
    return s


def rate_bound(calls):
    """Seconds the limiter must take at least: per budget, its calls at its rate."""
    per = Counter(family(c) for c in calls)
    worst = max(((n / RATES.get(s, 10), s, n) for s, n in per.items()), default=(0.0, "", 0))
    return worst


def main():
    moto, upstream = start_moto()
    tmp = tempfile.mkdtemp()
    d = pathlib.Path(tmp) / "class"
    d.mkdir()
    lab = d / "lab.yaml"
    lab.write_text(class_lab())
    roster = d / "roster.csv"
    roster.write_text("student\n" + "".join(f"s{i:03}\n" for i in range(STUDENTS)))
    solo = d / "solo.csv"
    solo.write_text("student\nsolo\n")

    def labctl(args, check=True, error_rate=0.0):
        extra = ["--error-rate", str(error_rate), "--seed", "7"] if error_rate else []
        proxy = Proxy(upstream, tmp, extra=extra)
        dt, out, kb = timed([LABCTL, "-f", lab, *args], proxy.url, check=check, rss=True)
        calls = proxy.calls()
        proxy.stop()
        return dt, out, kb, calls

    # Warm-up: the layer built into the cache, moto awake.
    labctl(["--roster", solo, "apply", "--auto-approve"])
    labctl(["--roster", solo, "destroy", "--auto-approve", "--empty-buckets"])
    one, _, _, one_calls = labctl(["--roster", solo, "apply", "--auto-approve"])
    labctl(["--roster", solo, "destroy", "--auto-approve", "--empty-buckets"])

    cold, out, kb, calls = labctl(["--roster", roster, "apply", "--auto-approve", "--json"])
    report = json.loads(out)
    failed = [s["student"] for s in report["students"] if not s["ok"]]
    waited = report["rate_limit_wait_seconds"]
    bound, svc, n = rate_bound(calls)
    plan, _, _, plan_calls = labctl(["--roster", roster, "plan", "--detailed-exitcode"])
    pbound, psvc, pn = rate_bound(plan_calls)
    # The boto3 read-back covers no Glue catalog nor Athena: compare without them.
    comparable = [c for c in plan_calls if c.get("service") not in ("glue", "athena")]
    destroy, _, dkb, dcalls = labctl(
        ["--roster", roster, "destroy", "--auto-approve", "--empty-buckets"]
    )

    # 30 students through 10% throttling: every lab converges.
    small = d / "small.csv"
    small.write_text("student\n" + "".join(f"f{i:02}\n" for i in range(30)))
    ft, fout, _, fcalls = labctl(
        ["--roster", small, "apply", "--auto-approve", "--json"], check=False, error_rate=0.1
    )
    fjson = json.loads(fout) if fout.strip().startswith("{") else {"ok": False, "students": []}
    injected = sum(1 for c in fcalls if c.get("injected"))
    replan = subprocess.run(
        [str(LABCTL), "-f", str(lab), "--roster", str(small), "plan", "--detailed-exitcode"],
        env=env(upstream),
        capture_output=True,
    ).returncode
    labctl(["--roster", small, "destroy", "--auto-approve", "--empty-buckets"])

    target = 2 * one + bound
    lines = [
        f"Class mode, {STUDENTS} students in one account, moto behind the proxy at {LATENCY} ms per call, debug build. The lab: the shipped one without network and instances.",
        "",
        "| run | value |",
        "|---|---|",
        f"| one lab's cold apply (a one-student roster) | {one:.2f} s, {len(one_calls)} calls |",
        f"| class cold apply | {cold:.1f} s, {len(calls)} calls ({len(calls) / STUDENTS:.1f} per student), {len(failed)} failed labs |",
        f"| time the rate limits impose at least (most loaded service: {svc}, {n} calls at {RATES.get(svc, 10)}/s) | {bound:.1f} s |",
        f"| target: 2 x one lab + that bound | {target:.1f} s: {'met' if cold <= target else 'missed'} |",
        f"| requests held back by the limiter, summed over requests | {waited:.1f} s |",
        f"| class no-op plan | {plan:.1f} s, {len(plan_calls)} calls ({len(plan_calls) / STUDENTS:.1f} per student; {len(comparable) / STUDENTS:.1f} without the catalog and Athena, which the boto3 read-back of one lab (26 calls) does not cover) |",
        f"| time the rate limits impose on the plan at least ({psvc}, {pn} calls at {RATES.get(psvc, 10)}/s) | {pbound:.1f} s |",
        f"| class destroy --empty-buckets | {destroy:.1f} s, {len(dcalls)} calls |",
        f"| peak memory (max RSS): apply / destroy | {kb / 1024:.0f} MB / {dkb / 1024:.0f} MB |",
        f"| 30 students, 10% of calls answered with throttling errors | {injected} errors injected; apply {'ok' if fjson.get('ok') else 'not ok'} in {ft:.1f} s; re-plan `--detailed-exitcode` {replan} (0: every lab as declared) |",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench/class-results.md").write_text(text + "\n")
    moto.kill()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
