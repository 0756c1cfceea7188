"""Helpers for tests that use the MPI_Init probe (libinit_probe.so, init_probe.c): the environment
that preloads it, and the reading of what it wrote. A test imports this module from the directory
meson calls `probe_py_dir` (sys.path.insert(0, that directory)).

    with tempfile.TemporaryDirectory(prefix="mpinit-probe-") as d:
        subprocess.run([MPIEXEC, "-np", "2", "env", *probe_assignments(d), PROGRAM], ...)
        records = by_rank(read_dir(d))      # {0: {...}, 1: {...}}
        cpus = thread_cpus(records[0])      # {tid: {0, 1}, ...}
"""
import json
import os
import re

# The library's path: meson's init_probe.full_path(), given to tests as INIT_PROBE_LIB.
PROBE_LIB = os.environ.get("INIT_PROBE_LIB", "")
FILE_NAME = re.compile(r"^init\.(?P<host>.+)\.(?P<pid>[0-9]+)\.json$")


def preload(existing=None, lib=None):
    """LD_PRELOAD with the probe first and whatever was preloaded already after it."""
    lib = lib or PROBE_LIB
    if not lib:
        raise RuntimeError("INIT_PROBE_LIB is not set: the probe library's path is unknown")
    return lib + (":" + existing if existing else "")


def probe_assignments(probe_dir, existing_preload=None):
    """The VAR=value words that make `env` (or a launcher's -x/-genv) preload the probe."""
    return [f"LD_PRELOAD={preload(existing_preload)}", f"INIT_PROBE_DIR={probe_dir}"]


def read_dir(probe_dir):
    """Every record in probe_dir, a list of dicts sorted by (rank, pid). Raises ValueError on a file
    that is not exactly one JSON line, or whose name does not match its host and pid."""
    records = []
    for name in sorted(os.listdir(probe_dir)):
        m = FILE_NAME.match(name)
        if not m:
            raise ValueError(f"{probe_dir}/{name}: not a probe record's name (init.<host>.<pid>.json)")
        with open(os.path.join(probe_dir, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        if not text.endswith("\n") or text.count("\n") != 1:
            raise ValueError(f"{name}: not one line: {text!r}")
        record = json.loads(text)
        if str(record["pid"]) != m["pid"] or record["host"].replace("/", "_") != m["host"]:
            raise ValueError(f"{name}: holds pid {record['pid']} on {record['host']}")
        records.append(record)
    return sorted(records, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["pid"]))


def by_rank(records):
    """{rank: record}; raises ValueError when a rank is missing (null) or appears twice."""
    ranks = {}
    for r in records:
        if r["rank"] is None or r["rank"] in ranks:
            raise ValueError(f"rank {r['rank']} of pid {r['pid']} is not one of distinct ranks {sorted(ranks)}")
        ranks[r["rank"]] = r
    return ranks


def parse_cpu_list(text):
    """"0-3,8" -> {0, 1, 2, 3, 8}; "" -> set()."""
    cpus = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def format_cpu_list(cpus):
    """{0, 1, 2, 3, 8} -> "0-3,8", as the probe writes it."""
    parts, run = [], []
    for c in sorted(cpus):
        if run and c != run[-1] + 1:
            parts.append(run)
            run = []
        run.append(c)
    if run:
        parts.append(run)
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in parts)


def thread_cpus(record):
    """{tid: set of CPUs} for every thread of the record's process."""
    return {t["tid"]: parse_cpu_list(t["cpus"]) for t in record["threads"]}
