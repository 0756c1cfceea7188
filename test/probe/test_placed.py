"""Placement before MPI_Init, on one node under the real launcher (Open MPI's mpirun, or MPICH's
hydra in the MPICH build): at the entry of MPI_Init (the probe, libinit_probe.so) every thread of
every rank is bound to its plan, its memory policy and MPI's network variables are the plan's,
in launch() (`mpinit info`) and in a plain MPI program started by `mpinit place`; one topology
discovery per node in every mode; a launcher that lies about the local rank meets each
MPINIT_CHECK; the node share's faults (a leader that never publishes, stale, foreign, truncated
or planted files, two jobs at once) and bindings a rank starts with. Nothing is left behind."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_read import by_rank, parse_cpu_list, probe_assignments, read_dir  # noqa: E402

BUILD = os.environ["MPINIT_BUILD_DIR"]
TOOL = os.path.join(BUILD, "tools", "mpinit")
PLAIN = os.environ["INIT_PROBE_PLAIN"]
MPIEXEC = os.environ.get("MPINIT_MPIEXEC", "mpiexec")
FLAVOUR = os.environ.get("MPINIT_MPI_FLAVOUR", "openmpi")
LIMIT_S = 120
SHARE = re.compile(r"^mpinit-\d+-[0-9a-f]{16}$")
# The tests' node shares live here, not in /dev/shm, so that other runs on the machine (which use
# /dev/shm) cannot make a test see their shares; each test checks nothing is left in it.
SHARE_BASE = tempfile.mkdtemp(prefix="mpinit-shares-")


def clean_env(**extra):
    drop = ("OMPI_COMM_WORLD", "PMIX_", "PMI_", "SLURM_", "MPINIT_", "MPI_LOCAL", "UCX_NET", "FI_", "INIT_PROBE_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("OMPI_MCA_orte_abort_on_non_zero_status", None)  # mpirun's default: a failed rank ends the job
    env["MPINIT_SHARE_DIR"] = SHARE_BASE
    env.update(extra)
    return env


def mpirun(np, *cmd, env=None, timeout=LIMIT_S, bind=None):
    args = [MPIEXEC]
    if FLAVOUR == "openmpi":
        args += ["--oversubscribe"] + (["--bind-to", bind] if bind else [])
    return subprocess.run(args + ["-np", str(np)] + list(cmd), capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env())


def to_files(out_dir, *cmd):
    """cmd with each rank's stdout in a file of its own (mpirun may interleave ranks' lines)."""
    return ["/bin/sh", "-c", 'exec "$0" "$@" > "%s/out.$$"' % out_dir] + list(cmd)


def read_records(out_dir):
    """Every JSON line the ranks wrote with to_files."""
    records = []
    for name in os.listdir(out_dir):
        with open(os.path.join(out_dir, name)) as f:
            records += [json.loads(l) for l in f if l.strip()]
    return records


def shares(base=SHARE_BASE):
    return sorted(d for d in os.listdir(base) if SHARE.match(d)) if os.path.isdir(base) else []


def info(np, *flags, env=None):
    p = mpirun(np, TOOL, "info", "--json", *flags, env=env)
    if p.returncode != 0:
        raise AssertionError(p.stderr)
    return {r["rank"]: r for r in json.loads(p.stdout)}


def nic_exports(plan):
    """What launch() sets for MPI for the plan's NIC on this machine: its name for a network interface."""
    return plan["nic"]


class Placed(unittest.TestCase):
    """What every rank looks like at the entry of MPI_Init, against its plan."""

    def setUp(self):
        self.before = shares()

    def tearDown(self):
        self.assertEqual(shares(), self.before, "a node share was left in /dev/shm")

    def check(self, record, plan, env):
        cpus = parse_cpu_list(plan["cpus"])
        self.assertTrue(cpus)
        for t in record["threads"]:  # every thread: the program's and mpinit's watchdog
            self.assertEqual(parse_cpu_list(t["cpus"]), cpus, (t, plan))
        self.assertIn(record["mempolicy"]["mode"], ("bind", "preferred_many"), record["mempolicy"])
        self.assertEqual(parse_cpu_list(record["mempolicy"]["nodes"]), set(plan["numa"]))
        if plan["nic"]:
            self.assertEqual(record["env"]["UCX_NET_DEVICES"], nic_exports(plan))
        tcp = record["env"]["OMPI_MCA_btl_tcp_if_include"]
        if "OMPI_MCA_btl_tcp_if_include" in env:
            self.assertEqual(tcp, env["OMPI_MCA_btl_tcp_if_include"])  # the user's: never replaced
        elif plan["nic"]:
            self.assertEqual(tcp, plan["nic"])
        self.assertIsNone(record["env"]["NCCL_IB_HCA"])  # NCCL chooses its own NICs unless asked
        if "NCCL_SOCKET_IFNAME" not in env:
            self.assertIsNone(record["env"]["NCCL_SOCKET_IFNAME"])

    def probe(self, np, cmd, env):
        with tempfile.TemporaryDirectory(prefix="mpinit-probe-") as d:
            p = mpirun(np, "env", *probe_assignments(d, env.get("LD_PRELOAD")), *cmd, env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p, by_rank(read_dir(d))

    def test_launch_is_placed_at_mpi_init(self):
        env = clean_env()
        for np in (1, 2, 3, 4, 8):
            with self.subTest(np=np):
                p, records = self.probe(np, [TOOL, "info", "--json"], env)
                plans = {r["rank"]: r for r in json.loads(p.stdout)}
                self.assertEqual(sorted(records), list(range(np)))
                for rank, rec in records.items():
                    self.assertEqual(rec["function"], "MPI_Init_thread")
                    self.check(rec, plans[rank]["placement"], env)

    def test_a_plain_mpi_program_is_placed_by_mpinit_place(self):
        env = clean_env()
        for np in (1, 2, 3, 4, 8):
            with self.subTest(np=np):
                plans = info(np, env=env)  # the same layout, planned by launch()
                p, records = self.probe(np, [TOOL, "place", "--", PLAIN], env)
                self.assertEqual(sorted(records), list(range(np)))
                for rank, rec in records.items():
                    self.assertEqual(rec["function"], "MPI_Init")
                    self.check(rec, plans[rank]["placement"], env)
                self.assertEqual(len([l for l in p.stdout.splitlines() if l.startswith("rank ")]), np)

    def test_after_mpi_init_when_asked(self):
        # MPINIT_PLACE=after: the process is not placed at MPI_Init (it is afterwards).
        env = clean_env(MPINIT_PLACE="after")
        p, records = self.probe(2, [TOOL, "info", "--json"], env)
        plans = {r["rank"]: r for r in json.loads(p.stdout)}
        for rank, rec in records.items():
            self.assertIsNone(rec["env"]["UCX_NET_DEVICES"])
            self.assertIn("bound to CPUs " + plans[rank]["placement"]["cpus"], plans[rank]["placement"]["applied"])


def discoveries(stderr):
    """{host: how many ranks discovered the topology themselves}, from MPINIT_LOG_LEVEL=debug lines."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"^(\S+):\d+ \[rank [^]]*\] mpinit DEBUG topology: (.*)$", line)
        if m:
            out.setdefault(m[1], 0)
            out[m[1]] += m[2] == "discovered"
    return out


class OneDiscoveryPerNode(unittest.TestCase):
    """launch(), env-only mode, exec --env-only and place: one discovery per node, at 1, 8 and 32
    ranks, and every other rank imports it."""

    def setUp(self):
        self.before = shares()

    def tearDown(self):
        self.assertEqual(shares(), self.before)

    def count(self, np, *cmd):
        env = clean_env(MPINIT_LOG_LEVEL="debug", MPINIT_LOG_RANKS="all")
        p = mpirun(np, *cmd, env=env)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        lines = [l for l in p.stderr.splitlines() if " mpinit DEBUG topology: " in l]
        self.assertEqual(len(lines), np, "every rank has a topology")
        self.assertEqual(sum(discoveries(p.stderr).values()), 1, p.stderr[-3000:])
        self.assertEqual(sum("imported from the local leader" in l for l in lines), np - 1)

    def test_each_mode_at_1_8_32_ranks(self):
        modes = {"launch": [TOOL, "info"], "env-only": [TOOL, "info", "--env-only"],
                 "place": [TOOL, "place", "--", "/bin/true"]}
        if FLAVOUR == "openmpi":
            modes["exec --env-only"] = [TOOL, "exec", "--env-only", "--master-addr", "127.0.0.1",
                                        "--master-port", "29500", "--", "/bin/true"]
        for name, cmd in modes.items():
            for np in (1, 8, 32):
                with self.subTest(mode=name, np=np):
                    self.count(np, *cmd)


@unittest.skipUnless(FLAVOUR == "mpich", "Hydra's ranks meet by their node proxy's pid")
class GuessedKey(unittest.TestCase):
    """Hydra names no job: the ranks of a node meet by their parent pid, the node proxy. A wrapper
    that forks (sh -c without exec) gives every rank another parent: each waits briefly, then
    discovers the topology itself; nobody waits for the launch budget, nothing is left."""

    def test_a_forking_wrapper_falls_back_to_discovering(self):
        base = tempfile.mkdtemp(prefix="mpinit-share-test-")
        self.addCleanup(shutil.rmtree, base, True)
        env = clean_env(MPINIT_SHARE_DIR=base, MPINIT_LOG_LEVEL="debug", MPINIT_LOG_RANKS="all")
        t0 = time.monotonic()
        p = mpirun(3, "/bin/sh", "-c", '"$0" "$@"; exit $?', TOOL, "info", "--env-only", env=env)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sum(discoveries(p.stderr).values()), 3, p.stderr)
        self.assertEqual(p.stderr.count("and its key is a guess"), 2, p.stderr)
        self.assertLess(took, 20)
        self.assertEqual(os.listdir(base), [])

    def test_without_a_wrapper_one_discovery(self):
        base = tempfile.mkdtemp(prefix="mpinit-share-test-")
        self.addCleanup(shutil.rmtree, base, True)
        env = clean_env(MPINIT_SHARE_DIR=base, MPINIT_LOG_LEVEL="debug", MPINIT_LOG_RANKS="all")
        p = mpirun(3, TOOL, "info", "--env-only", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sum(discoveries(p.stderr).values()), 1, p.stderr)
        self.assertEqual(os.listdir(base), [])


@unittest.skipUnless(FLAVOUR == "openmpi", "lies in Open MPI's variables")
class Verification(unittest.TestCase):
    """A launcher environment that lies about the local rank (ranks 0 and 1 swapped before the
    program starts): the plan made before MPI_Init is checked against MPI's node split."""

    # Rank 3 of 4 says it is local rank 2 (valid on its own: below the local size, at most the rank).
    LIE = ('if [ "$OMPI_COMM_WORLD_RANK" = 3 ]; then OMPI_COMM_WORLD_LOCAL_RANK=2; fi; exec "$0" "$@"')

    def run_lying(self, check):
        env = clean_env(MPINIT_CHECK=check)
        return mpirun(4, "/bin/sh", "-c", self.LIE, TOOL, "info", "--json", env=env)

    def test_check_error_names_both_values(self):
        p = self.run_lying("error")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("local rank: OMPI_COMM_WORLD_LOCAL_RANK=2 but MPI_Comm_split_type(OMPI_COMM_TYPE_NODE)=3",
                      p.stderr)
        self.assertEqual(shares(), [])

    def test_check_warn_plans_and_places_again(self):
        p = self.run_lying("warn")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("the plan was made before MPI_Init for local rank 2 of 4", p.stderr)
        self.assertIn("planning and placing again with MPI's values (MPINIT_CHECK=warn)", p.stderr)
        records = {r["rank"]: r for r in json.loads(p.stdout)}
        truth = info(4)
        for rank, r in records.items():
            self.assertEqual(r["placement"]["local_rank"], r["local_rank"])  # MPI's, after the re-plan
            self.assertEqual(r["placement"]["cpus"], truth[rank]["placement"]["cpus"])
            self.assertIn("bound to CPUs " + r["placement"]["cpus"], r["placement"]["applied"])

    def test_check_off_still_places_by_mpi(self):
        p = self.run_lying("off")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("planning and placing again with MPI's values (MPINIT_CHECK=off)", p.stderr)
        for r in json.loads(p.stdout):
            self.assertEqual(r["placement"]["local_rank"], r["local_rank"])


@unittest.skipUnless(FLAVOUR == "openmpi", "needs mpirun's per-rank variables in the wrapper")
class ShareFaults(unittest.TestCase):
    """The node share in a directory of the test's own (MPINIT_SHARE_DIR), with the share's
    bad cases planted there. Every case ends within its time and leaves nothing there."""

    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="mpinit-share-test-")
        self.addCleanup(shutil.rmtree, self.base, True)

    def tearDown(self):
        self.assertEqual(os.listdir(self.base), [], "the share directory is left")

    def env(self, **extra):
        return clean_env(MPINIT_SHARE_DIR=self.base, **extra)

    def test_leader_that_never_publishes_fails_the_others_naming_it(self):
        # Local rank 0 sleeps before it starts (before main); the others wait for its share until
        # the launch budget, then say who and where, and the watchdog ends them.
        wrap = 'if [ "$OMPI_COMM_WORLD_LOCAL_RANK" = 0 ]; then sleep 12; fi; exec "$0" "$@"'
        t0 = time.monotonic()
        p = mpirun(3, "/bin/sh", "-c", wrap, TOOL, "info", env=self.env(MPINIT_LAUNCH_TIMEOUT="4"), timeout=60)
        took = time.monotonic() - t0
        self.assertNotEqual(p.returncode, 0)
        lines = [l for l in p.stderr.splitlines() if "did not publish the node's topology" in l]
        self.assertEqual(len(lines), 2, p.stderr)
        for l in lines:
            self.assertIn("the node's leader (local rank 0, on ", l)
            self.assertIn(self.base + "/mpinit-", l)
            self.assertIn("within MPINIT_LAUNCH_TIMEOUT=4 s", l)
            self.assertIn("the directory was never made: the leader did not start", l)
        self.assertLess(took, 30)

    def test_stale_truncated_and_foreign_files_are_never_used(self):
        # A run under a launcher whose key is known in advance (a fixed PMIX_NAMESPACE given to
        # every rank by a wrapper), with the share planted before it starts.
        ns = "mpinit-test-%d" % os.getpid()
        wrap = 'PMIX_NAMESPACE=%s exec "$0" "$@"' % ns
        env = self.env(MPINIT_LOG_LEVEL="debug", MPINIT_LOG_RANKS="all", MPINIT_LAUNCH_TIMEOUT="20")
        p = mpirun(2, "/bin/sh", "-c", wrap, TOOL, "info", "--env-only", "--json", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        d = re.search(r"the node's share is (\S+) \(key from PMIX_NAMESPACE\)", p.stderr)[1]
        xml = "<topology/>"  # never imported: each plant is refused before its XML is read
        header = "format=mpinit-node-share-1\nkey=%s\npid=%d\nstatus=ok\nthis_system=1\nbytes=%d\nfnv1a=%s\n\n"
        plants = {
            # a stale file whose writer has ended
            "stale": header % (ns, 999999, len(xml), "0" * 16) + xml,
            # a truncated file of a running writer (this test)
            "truncated": header % (ns, os.getpid(), len(xml) + 100, "0" * 16) + xml,
            # another job's
            "foreign key": header % ("another-job", os.getpid(), len(xml), "0" * 16) + xml,
        }
        for name, text in plants.items():
            with self.subTest(plant=name):
                os.mkdir(d, 0o700)
                with open(os.path.join(d, "topology"), "w") as f:
                    f.write(text)
                with tempfile.TemporaryDirectory(prefix="mpinit-out-") as out:
                    p = mpirun(2, "/bin/sh", "-c", wrap, *to_files(out, TOOL, "info", "--env-only", "--json"), env=env)
                    records = read_records(out)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("was left by an earlier run; its files are removed", p.stderr)
                self.assertEqual(sorted(r["topology"]["discovered_here"] for r in records), [False, True])
                self.assertFalse(os.path.exists(d))

    def test_a_share_of_another_user_is_refused(self):
        ns = "mpinit-test-foreign-%d" % os.getpid()
        wrap = 'PMIX_NAMESPACE=%s exec "$0" "$@"' % ns
        env = self.env(MPINIT_LOG_LEVEL="debug", MPINIT_LOG_RANKS="all")
        p = mpirun(2, "/bin/sh", "-c", wrap, TOOL, "info", "--env-only", env=env)
        d = re.search(r"the node's share is (\S+) \(key from PMIX_NAMESPACE\)", p.stderr)[1]
        for plant in ("other user", "symbolic link", "open mode"):
            with self.subTest(plant=plant):
                self.addCleanup(lambda: os.unlink(d) if os.path.islink(d) else shutil.rmtree(d, True))
                if plant == "symbolic link":
                    os.symlink(self.base, d)
                else:
                    os.mkdir(d, 0o777 if plant == "open mode" else 0o700)
                    os.chmod(d, 0o777 if plant == "open mode" else 0o700)
                    if plant == "other user":
                        try:
                            os.chown(d, 65534, 65534)
                        except PermissionError:
                            shutil.rmtree(d)
                            continue  # only root can plant another user's directory
                p = mpirun(2, "/bin/sh", "-c", wrap, TOOL, "info", "--env-only", env=env)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("the node's share directory " + d, p.stderr)
                self.assertIn("refusing to use it (MPINIT_SHARE_DIR chooses another place)", p.stderr)
                self.assertIn({"other user": "is owned by uid 65534, not this user",
                               "symbolic link": "is a symbolic link",
                               "open mode": "is open to other users (mode 0777, must be 0700)"}[plant], p.stderr)
                os.unlink(d) if os.path.islink(d) else shutil.rmtree(d)

    def test_two_jobs_at_once_do_not_mix(self):
        # Two mpiruns on one node at the same time, one planning on a file, one on this machine.
        lassen = os.path.join(os.environ.get("TEST_TOPOLOGIES", ""), "mpibind-coral-lassen.xml")
        if not os.path.exists(lassen):
            self.skipTest("no shared topologies")
        da, db = tempfile.mkdtemp(prefix="mpinit-out-"), tempfile.mkdtemp(prefix="mpinit-out-")
        self.addCleanup(shutil.rmtree, da, True)
        self.addCleanup(shutil.rmtree, db, True)
        args = lambda d: [MPIEXEC, "--oversubscribe", "-np", "4"] + to_files(d, TOOL, "info", "--env-only", "--json")
        a = subprocess.Popen(args(da), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=self.env(MPINIT_TOPOLOGY=lassen))
        b = subprocess.Popen(args(db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env())
        _, err_a = a.communicate(timeout=LIMIT_S)
        _, err_b = b.communicate(timeout=LIMIT_S)
        self.assertEqual((a.returncode, b.returncode), (0, 0), err_a + err_b)
        ra, rb = read_records(da), read_records(db)
        self.assertEqual(sorted(r["topology"]["origin"] for r in ra),
                         sorted([lassen] + [lassen + " (via the local leader)"] * 3))
        self.assertEqual(sorted(r["topology"]["origin"] for r in rb),
                         sorted(["discovered"] + ["imported from the local leader"] * 3))


@unittest.skipUnless(FLAVOUR == "openmpi", "uses mpirun's --bind-to")
class StartingBinding(unittest.TestCase):
    """A rank that starts narrowed (taskset; mpirun's own binding) plans and binds inside it;
    MPINIT_REBIND=on replaces it instead."""

    def tearDown(self):
        self.assertEqual(shares(), [])

    def records(self, *cmd, np=2, bind="none", **env):
        with tempfile.TemporaryDirectory(prefix="mpinit-out-") as out:
            p = mpirun(np, *to_files(out, *cmd, TOOL, "info", "--env-only", "--json"), env=clean_env(**env), bind=bind)
            records = read_records(out)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(records, key=lambda r: r["rank"]), p

    def test_taskset_narrows_the_plan(self):
        if len(os.sched_getaffinity(0)) < 2:
            self.skipTest("needs two CPUs")
        records, p = self.records("taskset", "-c", "1", MPINIT_LOG_LEVEL="info", MPINIT_LOG_RANKS="all")
        for r in records:
            self.assertEqual(r["placement"]["cpus"], "1")
            self.assertIn("bound to CPUs 1", r["placement"]["applied"])
        self.assertIn("the process started bound to CPUs 1 of the allowed 0-1: planning inside them", p.stderr)

    def test_rebind_replaces_the_binding(self):
        if len(os.sched_getaffinity(0)) < 2:
            self.skipTest("needs two CPUs")
        records, _ = self.records("taskset", "-c", "1", MPINIT_REBIND="on")
        self.assertEqual([r["placement"]["cpus"] for r in records], ["0", "1"])

    def test_mpirun_bind_to_core(self):
        if len(os.sched_getaffinity(0)) < 2:
            self.skipTest("needs two CPUs")
        records, _ = self.records(bind="core")
        self.assertEqual([r["placement"]["cpus"] for r in records], ["0", "1"])
        for r in records:
            self.assertIn("bound to CPUs " + r["placement"]["cpus"], r["placement"]["applied"])


def tearDownModule():
    left = os.listdir(SHARE_BASE)
    shutil.rmtree(SHARE_BASE, True)
    if left:
        raise AssertionError("node shares left: %s" % left)


if __name__ == "__main__":
    unittest.main()
