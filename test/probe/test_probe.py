"""The MPI_Init probe's self-test: libinit_probe.so, preloaded into a plain MPI program (plain_mpi.c)
under the real mpirun, records what was imposed on each rank before MPI_Init: the CPUs of every
thread (taskset per rank, a helper thread bound elsewhere), the memory policy (numactl), MPI's
network variables, the rank, the CUDA device; it writes one file per rank, nothing when
INIT_PROBE_DIR is unset, and changes nothing in what the program does. Nothing is left in /tmp
or /dev/shm."""
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_read import (by_rank, format_cpu_list, parse_cpu_list, preload, probe_assignments,  # noqa: E402
                        read_dir, thread_cpus)

PROBE_LIB = os.environ["INIT_PROBE_LIB"]
PLAIN = os.environ["INIT_PROBE_PLAIN"]
PLAIN_CUDA = os.environ.get("INIT_PROBE_PLAIN_CUDA")
MPIEXEC = os.environ.get("MPINIT_MPIEXEC", "mpiexec")
FLAVOUR = os.environ.get("MPINIT_MPI_FLAVOUR", "openmpi")
NM = os.environ.get("NM", "nm")
RANK_VAR = "OMPI_COMM_WORLD_RANK" if FLAVOUR == "openmpi" else "PMI_RANK"
HOST = socket.gethostname()
ALLOWED = sorted(os.sched_getaffinity(0))
LIMIT_S = 60
NET_VARS = ["UCX_NET_DEVICES", "UCX_TLS", "OMPI_MCA_btl_tcp_if_include", "OMPI_MCA_btl_openib_if_include",
            "OMPI_MCA_pml_ucx_devices", "FI_PROVIDER", "FI_CXI_DEVICE_NAME", "NCCL_IB_HCA", "NCCL_SOCKET_IFNAME"]
OUTPUT = re.compile(r"^rank (\d+) size (\d+) pid (\d+) function (\S+) provided (-?\d+) cuda (-?\d+)$")


def clean_env():
    """The test's environment without launcher, mpinit or probe variables, nor UCX_TLS/FI_*/UCX_NET_*
    (the record must show exactly what a run adds). LD_PRELOAD stays (the sanitizer build's)."""
    drop = ("OMPI_COMM_WORLD", "PMIX_", "PMI_", "SLURM_", "MPINIT_", "MPI_LOCAL", "UCX_", "FI_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def mpirun(np, *cmd, env=None):
    args = [MPIEXEC] + (["--oversubscribe"] if FLAVOUR == "openmpi" else []) + ["-np", str(np)] + list(cmd)
    return subprocess.run(args, capture_output=True, text=True, timeout=LIMIT_S, env=env or clean_env())


def outputs(p):
    """{pid: (rank, size, function, provided, cuda)} from the program's lines."""
    lines = [OUTPUT.match(line) for line in p.stdout.splitlines()]
    return {int(m[3]): (int(m[1]), int(m[2]), m[4], int(m[5]), int(m[6])) for m in lines if m}


def preloaded(d):
    return probe_assignments(d, os.environ.get("LD_PRELOAD"))


def imposed(rank):
    """The main thread's CPUs for a rank: all of them (a range), one, or two with a gap where there
    are three or more."""
    n = len(ALLOWED)
    if rank == 0:
        return set(ALLOWED)
    if rank == 2 and n >= 3:
        return {ALLOWED[0], ALLOWED[2]}
    return {ALLOWED[rank % n]}


def helper_cpu(rank):
    return ALLOWED[(rank + 1) % len(ALLOWED)]


def per_rank_cpus(np):
    """A wrapper that binds each rank to imposed(rank) with taskset, then execs `env` and the
    program with the helper thread's CPU as the last argument: the probe is in a program started by
    execv, after the launcher's own binding."""
    mains = " ".join(format_cpu_list(imposed(r)) for r in range(np))
    helpers = " ".join(str(helper_cpu(r)) for r in range(np))
    script = (f'i=$(( ${RANK_VAR} + 1 )); main=$(echo "{mains}" | cut -d" " -f$i); '
              f'helper=$(echo "{helpers}" | cut -d" " -f$i); exec taskset -c "$main" env "$@" "$helper"')
    return ["/bin/sh", "-c", script, "sh"]


def mpinit_entries():
    return set(glob.glob("/tmp/*mpinit*") + glob.glob("/dev/shm/*mpinit*"))


BEFORE = set()
PREFIX = "mpinit-probe-"


def setUpModule():
    BEFORE.update(mpinit_entries())


def tearDownModule():
    """Fails on a probe directory left behind. Other new *mpinit* entries are only reported: other
    runs on the same machine make them too (the probe writes nowhere but INIT_PROBE_DIR, which
    test_nothing_written_without_a_directory and the one-file-per-rank checks hold it to)."""
    new = mpinit_entries() - BEFORE
    ours = sorted(e for e in new if os.path.basename(e).startswith(PREFIX))
    if new - set(ours):
        print(f"note: new in /tmp or /dev/shm, not this test's: {sorted(new - set(ours))}", file=sys.stderr)
    if ours:
        raise AssertionError(f"left behind: {ours}")


class ProbeDir:
    """A temporary probe directory (mpinit-probe-*) that must be gone once the block is left."""

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix=PREFIX)
        return self.tmp.name

    def __exit__(self, *exc):
        self.tmp.cleanup()
        if os.path.exists(self.tmp.name):
            raise AssertionError(f"{self.tmp.name} is still there")


class Surface(unittest.TestCase):
    def test_defines_only_mpi_init_and_mpi_init_thread(self):
        p = subprocess.run([NM, "-D", "--defined-only", PROBE_LIB], capture_output=True, text=True, check=True)
        names = {line.split()[-1] for line in p.stdout.splitlines() if line.split()[1:2] != ["A"]}
        self.assertEqual(names, {"MPI_Init", "MPI_Init_thread"}, p.stdout)

    def test_cpu_lists_round_trip(self):
        for text, cpus in [("", set()), ("3", {3}), ("0-3,8", {0, 1, 2, 3, 8}), ("0,2,4-5", {0, 2, 4, 5})]:
            self.assertEqual(parse_cpu_list(text), cpus)
            self.assertEqual(format_cpu_list(cpus), text)


class UnderMpirun(unittest.TestCase):
    def check_ranks(self, np):
        with ProbeDir() as d:
            env = clean_env()
            p = mpirun(np, *per_rank_cpus(np), *preloaded(d), "UCX_NET_DEVICES=lo:1", "MPINIT_CHECK_NP=" + str(np),
                       PLAIN, "init", env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn("init_probe", p.stderr)
            self.assertEqual(len(os.listdir(d)), np, os.listdir(d))
            records = by_rank(read_dir(d))
        self.assertEqual(sorted(records), list(range(np)))
        ran = outputs(p)
        self.assertEqual(len(ran), np, p.stdout)
        for rank, r in records.items():
            with self.subTest(np=np, rank=rank):
                self.assertEqual(ran[r["pid"]][:2], (rank, np), "the launcher's rank is MPI's")
                self.assertEqual((r["function"], r["rank_var"], r["host"], r["tid"]),
                                 ("MPI_Init", RANK_VAR, HOST, r["pid"]))
                cpus = thread_cpus(r)
                self.assertEqual(len(cpus), 2, r["threads"])
                self.assertEqual(cpus.pop(r["pid"]), imposed(rank))
                self.assertEqual(list(cpus.values()), [{helper_cpu(rank)}])
                main = next(t for t in r["threads"] if t["tid"] == r["pid"])
                self.assertEqual(main["cpus"], format_cpu_list(imposed(rank)))
                self.assertEqual(main["comm"], "plain_mpi")
                self.assertEqual(r["mempolicy"], {"mode": "default", "flags": [], "nodes": ""})
                self.assertEqual((r["cuda"], r["cuda_device"]), ("not_loaded", None))
                self.assertEqual([k for k in r["env"] if not k.startswith("MPINIT_")], NET_VARS)
                self.assertEqual(r["env"]["UCX_NET_DEVICES"], "lo:1")
                self.assertIsNone(r["env"]["UCX_TLS"])
                self.assertEqual(r["env"]["NCCL_SOCKET_IFNAME"], env.get("NCCL_SOCKET_IFNAME"))
                self.assertEqual(r["env"]["OMPI_MCA_btl_tcp_if_include"], env.get("OMPI_MCA_btl_tcp_if_include"))
                mpinit_vars = {k: v for k, v in r["env"].items() if k.startswith("MPINIT_")}
                self.assertEqual(mpinit_vars, {"MPINIT_CHECK_NP": str(np)})

    def test_np1(self):
        self.check_ranks(1)

    def test_np2(self):
        self.check_ranks(2)

    def test_np3(self):
        self.check_ranks(3)

    def test_init_thread_and_the_program_unchanged(self):
        plain = mpirun(2, PLAIN, "thread")
        self.assertEqual(plain.returncode, 0, plain.stderr)
        with ProbeDir() as d:
            probed = mpirun(2, "env", *preloaded(d), PLAIN, "thread")
            self.assertEqual(probed.returncode, 0, probed.stderr)
            records = by_rank(read_dir(d))
        self.assertEqual([r["function"] for r in records.values()], ["MPI_Init_thread"] * 2)
        self.assertEqual(sorted(outputs(probed).values()), sorted(outputs(plain).values()))
        self.assertEqual(len(outputs(probed)), 2, probed.stdout)

    @unittest.skipUnless(shutil.which("numactl"), "numactl is not installed (scripts/install-deps.sh)")
    def test_memory_policy(self):
        with open("/proc/self/status") as f:
            mems = next(line.split()[1] for line in f if line.startswith("Mems_allowed_list:"))
        node = sorted(parse_cpu_list(mems))[0]
        for option, mode in [("--membind", "bind"), ("--interleave", "interleave"), ("--preferred", "preferred")]:
            with self.subTest(option=option), ProbeDir() as d:
                p = mpirun(2, "numactl", f"{option}={node}", "env", *preloaded(d), PLAIN, "init")
                self.assertEqual(p.returncode, 0, p.stderr)
                for r in by_rank(read_dir(d)).values():
                    self.assertEqual(r["mempolicy"], {"mode": mode, "flags": [], "nodes": str(node)})

    @unittest.skipUnless(PLAIN_CUDA, "built without the CUDA runtime")
    def test_cuda_device(self):
        with ProbeDir() as d:
            p = mpirun(2, "env", *preloaded(d), PLAIN_CUDA, "init")
            self.assertEqual(p.returncode, 0, p.stderr)
            records = by_rank(read_dir(d))
        ran = outputs(p)
        for r in records.values():
            device = ran[r["pid"]][4]
            if device >= 0:
                self.assertEqual((r["cuda"], r["cuda_device"]), ("ok", device))
            else:  # no device here: the loaded runtime was asked, and said so
                self.assertRegex(r["cuda"], r"^error \d+$")
                self.assertIsNone(r["cuda_device"])


class WithoutLauncher(unittest.TestCase):
    def test_singleton_has_no_rank(self):
        with ProbeDir() as d:
            p = subprocess.run(["env", *preloaded(d), PLAIN, "init"], capture_output=True, text=True,
                               timeout=LIMIT_S, env=clean_env())
            self.assertEqual(p.returncode, 0, p.stderr)
            (r,) = read_dir(d)
        self.assertEqual((r["rank"], r["rank_var"], r["function"]), (None, None, "MPI_Init"))
        self.assertEqual(thread_cpus(r), {r["pid"]: set(ALLOWED)})

    def test_nothing_written_without_a_directory(self):
        with ProbeDir() as cwd:
            env = clean_env()
            env["LD_PRELOAD"] = preload(env.get("LD_PRELOAD"))
            p = subprocess.run([PLAIN, "init"], capture_output=True, text=True, timeout=LIMIT_S, env=env, cwd=cwd)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(os.listdir(cwd), [])
        self.assertNotIn("init_probe", p.stderr)
        self.assertEqual(len(outputs(p)), 1, p.stdout)

    def test_a_directory_that_is_not_there_is_said_and_the_program_goes_on(self):
        with ProbeDir() as d:
            missing = os.path.join(d, "missing")
            p = subprocess.run(["env", *preloaded(missing), PLAIN, "init"], capture_output=True, text=True,
                               timeout=LIMIT_S, env=clean_env())
            self.assertEqual(os.listdir(d), [])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(outputs(p)), 1, p.stdout)
        self.assertRegex(p.stderr, rf"init_probe: {re.escape(missing)}/init\.{re.escape(HOST)}\.\d+\.json: No such file")


if __name__ == "__main__":
    unittest.main()
