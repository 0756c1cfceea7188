"""Real launchers end to end (docs/launchers.md).

Fake nodes under Open MPI's `mpirun --hostfile` and MPICH's hydra (scripts/cluster/fake-ssh starts
each node's daemon in its own UTS namespace), a local Slurm cluster of fake nodes
(scripts/cluster/slurm-up.sh / slurm-down.sh), and binaries started by the wrong launcher. Every
process runs build/test/launchers/launcher_probe (or the mpinit tool, or the MPI gtest suite) and
the test asserts exact values on every rank.

Run one group: python3 test_launchers.py -v SlurmOpenMpi (meson registers one test per group).
Nothing may hang: every command has a time limit, and after each one no process of this run may be
left (each carries LAUNCHER_TEST_RUN in its environment; stragglers are killed and fail the test).
"""
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MPINIT_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("MPINIT_BUILD_DIR", os.path.join(SRC, "build"))
FLAVOUR = os.environ.get("MPINIT_MPI_FLAVOUR", "openmpi")
PROBE = os.path.join(BUILD, "test", "launchers", "launcher_probe")
FAULT_PROBE = os.path.join(BUILD, "test", "launchers", "fault_probe")  # with test/launchers/fault_inject.cpp
DECODE = os.path.join(BUILD, "test", "launchers", "hostlist_decode")
LONE = os.path.join(BUILD, "test", "lone_exception")  # test/mpi/lone_exception.cpp
TOOL = os.path.join(BUILD, "tools", "mpinit")
INIT_PROBE = os.path.join(BUILD, "test", "probe", "libinit_probe.so")  # test/probe: state at MPI_Init entry
MPI_TESTS = os.environ.get("MPINIT_MPI_TESTS", os.path.join(BUILD, "test", "mpi_session_tests"))
TOPOLOGIES = os.environ.get("MPINIT_TOPOLOGIES", os.path.join(SRC, "..", "shared", "topologies", "hwloc"))
AGENT = os.path.join(SRC, "scripts", "cluster", "fake-ssh")
SLURM_UP = os.path.join(SRC, "scripts", "cluster", "slurm-up.sh")
SLURM_DOWN = os.path.join(SRC, "scripts", "cluster", "slurm-down.sh")
SLURM_DIR = os.environ.get("MPINIT_SLURM_DIR", "/tmp/mpinit-slurm")
SLURM_NODES = 3
LIMIT_S = 60

# Every process a test starts carries this variable: what is left of a run is found by it.
MARK = "LAUNCHER_TEST_RUN"
MARK_VALUE = f"{os.getpid()}.{time.time_ns()}"

# Tests of test/mpi that assert a single node (host name, node count 1, one topology leader);
# they are left out where the suite runs on two fake nodes.
ONE_NODE_TESTS = [
    "Session.AdoptsAnInitializedMpiAndMatchesIt",
    "Session.SubCommunicatorIdentityIsRelativeToIt",
    "ErrorAgreement.ABadSettingOnOneRankFailsEveryRankWithTheSameMessage",
    "PlacementMpi.AnUnreadableTopologyFailsEveryRankAlike",
    "PlacementMpi.ExclusivePolicyWithTooFewGpusFailsEveryRank",
]

TIMINGS = []
SCRATCH = []  # this run's scratch directories (removed by the tests' cleanups, or on SIGTERM)
# TMPDIR of every process this run starts: Open MPI's session directories (mpirun's and each fake
# node's orted's) go there, so that a run cut short leaves none in /tmp.
RUN_TMP = tempfile.mkdtemp(prefix="mpinit-launchers-tmp-")
SCRATCH.append(RUN_TMP)


def program(*names):
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    raise unittest.SkipTest(f"none of {names} is installed (scripts/install-deps.sh installs them)")


def topology(name):
    path = os.path.join(TOPOLOGIES, name)
    if not os.path.exists(path):
        raise unittest.SkipTest(f"topology {path} is not there")
    return path


def clean_env(**extra):
    """This process's environment without any launcher's per-process variables or mpinit settings,
    with what Open MPI needs as root and on loopback."""
    drop = ("OMPI_COMM_WORLD", "OMPI_MCA_", "OMPI_UNIVERSE", "PMIX_", "PMI_", "SLURM_", "SALLOC_", "SBATCH_",
            "SRUN_", "MPINIT_", "MPI_LOCAL", "HYDRA_", "HWLOC_", "CUDA_VISIBLE", "FAKE_SSH_", "NCCL_", "UCX_")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(drop) and k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl_tcp_if_include="lo",
               OMPI_MCA_oob_tcp_if_include="lo", NCCL_SOCKET_IFNAME="lo", TMPDIR=RUN_TMP)
    env.update(extra)
    return env


def marked():
    """PIDs of live processes of this run (other than this one)."""
    needle = f"\0{MARK}={MARK_VALUE}\0".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if needle in b"\0" + f.read():
                    with open(f"/proc/{d}/comm") as c:
                        found.append((int(d), c.read().strip()))
        except OSError:
            pass
    return found


def reap(wait_s=5.0, term=False):
    """Waits for this run's processes to end (after a SIGTERM with `term`); kills what is still
    there after `wait_s`, and returns it ("pid name")."""
    deadline = time.monotonic() + wait_s
    left = marked()
    for pid, _ in left if term else ():
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = marked()
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return [f"{pid} {name}" for pid, name in left]


class Result:
    def __init__(self, cmd, rc, out, err, seconds, probe=""):
        self.cmd, self.returncode, self.stdout, self.stderr, self.seconds = cmd, rc, out, err, seconds
        self.probe = probe  # what the probes wrote to LAUNCHER_PROBE_DIR

    def __str__(self):
        return (f"$ {' '.join(self.cmd)}\nexit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
                + (f"--- probes\n{self.probe}" if self.probe else ""))


def collect(directory):
    """The probes' lines from their files in `directory`."""
    text = ""
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as f:
            text += f.read()
    return text


def run(cmd, env=None, limit=LIMIT_S, mark=True, check_left=True, probe_dir=None):
    """Runs `cmd` in its own session with a time limit. A command that runs past the limit is
    killed with its process group and fails the test (a hang is a failure). With `probe_dir`, the
    probes write their lines there and the result's `probe` holds them."""
    env = dict(clean_env() if env is None else env)
    if mark:
        env[MARK] = MARK_VALUE
    if probe_dir:
        env["LAUNCHER_PROBE_DIR"] = probe_dir
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except OSError:
                pass
            time.sleep(0.5)
        out, err = p.communicate()
        left = reap(2, term=True)
        raise AssertionError(f"hung: killed after {limit} s (also killed: {left})\n"
                             + str(Result(cmd, None, out, err, limit)))
    result = Result(cmd, p.returncode, out, err, time.monotonic() - t0, collect(probe_dir) if probe_dir else "")
    if mark and check_left:
        left = reap()
        if left:
            raise AssertionError(f"processes left behind (killed): {left}\n{result}")
    return result


def timed(name, result):
    TIMINGS.append((name, result.seconds))
    return result


def parse(out):
    """The probe's lines: OK records sorted by rank, and ERROR messages."""
    oks, errors = [], []
    for line in out.splitlines():
        line = re.sub(r"^\s*\d+: ", "", line)  # srun -l labels
        if line.startswith("OK {"):
            oks.append(json.loads(line[3:]))
        elif line.startswith("ERROR "):
            errors.append(line[6:])
    return sorted(oks, key=lambda r: r["rank"]), errors


def labelled(out):
    """srun -l output regrouped by task: {task: text}."""
    tasks = {}
    for line in out.splitlines():
        m = re.match(r"^\s*(\d+): (.*)$", line)
        if m:
            tasks.setdefault(int(m.group(1)), []).append(m.group(2))
    return {t: "\n".join(lines) for t, lines in tasks.items()}


def offline_plan(topology_file, local_size, *extra):
    p = run([TOOL, "plan", "--topology", topology_file, "--ranks", str(local_size), "--json", *extra], mark=False)
    assert p.returncode == 0, str(p)
    return json.loads(p.stdout)["ranks"]


class LauncherCase(unittest.TestCase):
    maxDiff = None

    def scratch(self):
        d = tempfile.mkdtemp(prefix="mpinit-launchers-")
        SCRATCH.append(d)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def check_layout(self, recs, hosts, p, launcher=None, variables=()):
        """`recs` (one per rank, sorted) match the layout `hosts` (rank -> host): rank, size, local
        rank and size, node index (nodes numbered by their first rank) and count, host name; and
        the launcher, and the `variables` ((VARIABLE, field) pairs) equal to those fields."""
        self.assertEqual(len(recs), len(hosts), str(p))
        order = list(dict.fromkeys(hosts))
        for r, rec in enumerate(recs):
            same = [i for i, h in enumerate(hosts) if h == hosts[r]]
            want = {"rank": r, "size": len(hosts), "host": hosts[r], "local_rank": same.index(r),
                    "local_size": len(same), "node_rank": order.index(hosts[r]), "node_count": len(order)}
            self.assertEqual({k: rec[k] for k in want}, want, str(p))
            if rec["from_mpi"]:
                self.assertEqual(rec["collectives"], "ok", rec)
                self.assertEqual(rec["sources"]["node_rank"], "MPI_Exscan(node leaders)")
            if launcher:
                self.assertEqual(rec["launcher"], launcher)
            for var, field in variables:
                self.assertEqual((var, rec["vars"].get(var)), (var, str(rec[field])), str(p))

    def check_all_fail(self, p, n, *parts, same=True):
        """Every one of `n` processes printed an error holding `parts`, none went on, within the limit."""
        recs, errors = parse(p.probe or p.stdout)
        self.assertEqual(recs, [], str(p))
        self.assertEqual(len(errors), n, str(p))
        if same:
            self.assertEqual(len(set(errors)), 1, "messages differ:\n" + "\n".join(errors))
        for e in errors:
            for part in parts:
                self.assertIn(part, e)
        self.assertLess(p.seconds, LIMIT_S)
        return errors


def check_placed_at_init(tc, run_ranks):
    """Every rank of `mpinit info --json`, started by run_ranks(cmd), was placed as its plan says at
    the entry of MPI_Init (the probe, test/probe): every thread's CPUs, MPI's device variable.
    Returns {rank: (info record, probe record)}."""
    d = tc.scratch()
    p = run_ranks(["env", f"LD_PRELOAD={INIT_PROBE}", f"INIT_PROBE_DIR={d}", TOOL, "info", "--json"])
    tc.assertEqual(p.returncode, 0, str(p))
    infos = {r["rank"]: r for r in json.loads(p.stdout)}
    probes = {}
    for name in os.listdir(d):
        with open(os.path.join(d, name)) as f:
            rec = json.load(f)
        probes[rec["rank"]] = rec
    tc.assertEqual(sorted(probes), sorted(infos), str(p))
    for rank, rec in probes.items():
        plan = infos[rank]["placement"]
        tc.assertEqual(rec["host"], infos[rank]["host"])
        tc.assertEqual(rec["function"], "MPI_Init_thread")
        want = set(parse_cpus(plan["cpus"]))
        for t in rec["threads"]:
            tc.assertEqual(set(parse_cpus(t["cpus"])), want, (rank, t, plan["cpus"]))
        if plan["nic"]:
            tc.assertEqual(rec["env"]["UCX_NET_DEVICES"], plan["nic"], rank)
    return {r: (infos[r], probes[r]) for r in probes}


def parse_cpus(text):
    out = []
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return out


# ---------------------------------------------------------------------------------------------
# Fake nodes: each daemon in its own UTS namespace (scripts/cluster/fake-ssh)
# ---------------------------------------------------------------------------------------------
class FakeNodes(LauncherCase):
    def setUp(self):
        self.dir = self.scratch()  # hostfiles, and FAKE_SSH_ENV_DIR: NODE.env per fake node

    def node_env(self, host, **variables):
        with open(os.path.join(self.dir, host + ".env"), "w") as f:
            for k, v in variables.items():
                f.write(f"{k}={v}\n")

    def env(self, **extra):
        return clean_env(FAKE_SSH_ENV_DIR=self.dir, **extra)


class OpenMpiFakeNodes(FakeNodes):
    """Open MPI's mpirun --hostfile over fake nodes (rsh launcher with the fake-ssh agent)."""

    def mpirun(self, slots, np, *cmd, extra=(), env=None):
        hostfile = os.path.join(self.dir, "hosts")
        with open(hostfile, "w") as f:
            f.writelines(f"{h} slots={s}\n" for h, s in slots)
        mpirun = program("mpirun.openmpi", "mpiexec.openmpi")
        return run([mpirun, "--hostfile", hostfile, "-np", str(np), *extra, *cmd],
                   env=env or self.env(OMPI_MCA_plm_rsh_agent=AGENT))

    def check_open_mpi(self, recs, hosts, p):
        # Open MPI's NODE_RANK is the rank on the node, not the node's index.
        self.check_layout(recs, hosts, p, "openmpi", [("OMPI_COMM_WORLD_RANK", "rank"),
                                                      ("OMPI_COMM_WORLD_LOCAL_RANK", "local_rank"),
                                                      ("OMPI_COMM_WORLD_NODE_RANK", "local_rank")])
        node_rank_differs = False
        for rec in recs:
            node_rank_differs |= rec["vars"]["OMPI_COMM_WORLD_NODE_RANK"] != str(rec["node_rank"])
            self.assertNotIn("node_rank", rec["env"])  # nothing in Open MPI's variables gives it
        self.assertTrue(node_rank_differs, "the layout must tell the node index from OMPI_COMM_WORLD_NODE_RANK")


class HostfileFakeNodes(OpenMpiFakeNodes):

    def test_two_nodes_two_ranks_each(self):
        p = timed("mpirun --hostfile 2 nodes x 2", self.mpirun([("node1", 2), ("node2", 2)], 4, PROBE))
        self.assertEqual(p.returncode, 0, str(p))
        self.check_open_mpi(parse(p.probe or p.stdout)[0], ["node1", "node1", "node2", "node2"], p)

    def test_uneven_three_nodes(self):
        p = timed("mpirun --hostfile 3 nodes (2,2,1)",
                  self.mpirun([("node1", 2), ("node2", 2), ("node3", 1)], 5, PROBE))
        self.assertEqual(p.returncode, 0, str(p))
        self.check_open_mpi(parse(p.probe or p.stdout)[0], ["node1", "node1", "node2", "node2", "node3"], p)

    def test_four_nodes_mapped_by_node(self):
        nodes = [f"node{k}" for k in range(1, 5)]
        p = timed("mpirun --hostfile 4 nodes x 2 --map-by node",
                  self.mpirun([(h, 2) for h in nodes], 8, PROBE, extra=["--map-by", "node"]))
        self.assertEqual(p.returncode, 0, str(p))
        recs = parse(p.probe or p.stdout)[0]
        self.check_open_mpi(recs, nodes + nodes, p)  # round robin: rank r on node r % 4

    def test_placed_at_mpi_init_on_two_and_four_nodes(self):
        for nodes in (2, 4):
            hosts = [f"node{k}" for k in range(1, nodes + 1)]
            got = check_placed_at_init(self, lambda cmd: timed(
                f"probe at MPI_Init, mpirun --hostfile {nodes} nodes x 2",
                self.mpirun([(h, 2) for h in hosts], 2 * nodes, *cmd)))
            self.assertEqual(sorted(info["host"] for info, _ in got.values()), sorted(hosts + hosts))
            # One discovery per fake node, before MPI_Init.
            self.assertEqual(sum(info["topology"]["discovered_here"] for info, _ in got.values()), nodes)

    def test_info_tool_over_nodes(self):
        p = timed("mpirun --hostfile 2 nodes x 2, mpinit info --json",
                  self.mpirun([("node1", 2), ("node2", 2)], 4, TOOL, "info", "--json"))
        self.assertEqual(p.returncode, 0, str(p))
        records = json.loads(p.stdout)
        got = [(r["rank"], r["host"], r["local_rank"], r["local_size"], r["node_rank"], r["node_count"])
               for r in records]
        self.assertEqual(got, [(0, "node1", 0, 2, 0, 2), (1, "node1", 1, 2, 0, 2),
                               (2, "node2", 0, 2, 1, 2), (3, "node2", 1, 2, 1, 2)])
        # One topology discovery per fake node.
        self.assertEqual([r["topology"]["discovered_here"] for r in records], [True, False, True, False])


class PythonFakeNodes(OpenMpiFakeNodes):
    """The Python package (build/python) on two fake nodes: identity as the tool says it, and one
    PyTorch (gloo) process group across the nodes from mpinit.torch.init_process_group()."""
    PYTHON = os.environ.get("MPINIT_PYTHON", "/usr/bin/python3")
    WORKER = os.path.join(SRC, "test", "python", "worker.py")

    def py_env(self):
        return self.env(OMPI_MCA_plm_rsh_agent=AGENT, PYTHONPATH=os.path.join(BUILD, "python"))

    def setUp(self):
        super().setUp()
        if not os.path.exists(os.path.join(BUILD, "python", "mpinit", "__init__.py")):
            self.skipTest("the Python package is not built (-Dpython)")

    def test_identity_over_two_nodes_matches_the_tool(self):
        slots = [("node1", 2), ("node2", 2)]
        info = self.mpirun(slots, 4, TOOL, "info", "--json", env=self.py_env())
        self.assertEqual(info.returncode, 0, str(info))
        want = json.loads(info.stdout)
        probe = self.scratch()
        p = timed("python launch() on 2 fake nodes x 2",
                  run([program("mpirun.openmpi", "mpiexec.openmpi"), "--hostfile", os.path.join(self.dir, "hosts"),
                       "-np", "4", self.PYTHON, self.WORKER, "identity"], env=self.py_env(), probe_dir=probe))
        self.assertEqual(p.returncode, 0, str(p))
        recs, errors = parse(p.probe)
        self.assertEqual(errors, [], str(p))
        got = [(r["rank"], r["host"], r["local_rank"], r["local_size"], r["node_rank"], r["node_count"], r["cpus"],
                r["nic"], r["rank_seed"]) for r in recs]
        self.assertEqual(got, [(w["rank"], w["host"], w["local_rank"], w["local_size"], w["node_rank"],
                                w["node_count"], w["cpus"], w["nic"], w["rank_seed"]) for w in want])
        self.assertEqual([r["host"] for r in recs], ["node1", "node1", "node2", "node2"])

    def test_torch_process_group_across_nodes(self):
        probe = self.scratch()
        with open(os.path.join(self.dir, "hosts"), "w") as f:
            f.write("node1 slots=2\nnode2 slots=2\n")
        p = timed("python mpinit.torch gloo on 2 fake nodes x 2",
                  run([program("mpirun.openmpi", "mpiexec.openmpi"), "--hostfile", os.path.join(self.dir, "hosts"),
                       "-np", "4", self.PYTHON, self.WORKER, "torch"], env=self.py_env(), probe_dir=probe, limit=120))
        self.assertEqual(p.returncode, 0, str(p))
        recs, errors = parse(p.probe)
        self.assertEqual((len(recs), errors), (4, []), str(p))
        hosts = ["node1", "node1", "node2", "node2"]
        masters = {r["env"]["MASTER_ADDR"] + ":" + r["env"]["MASTER_PORT"] for r in recs}
        self.assertEqual(len(masters), 1, masters)  # one rendezvous: one process group
        for r in recs:
            self.assertEqual((r["torch_rank"], r["torch_size"], r["allreduce"]), (r["rank"], 4, 10.0))
            self.assertEqual(r["gathered"], [{"rank": k, "host": hosts[k]} for k in range(4)])
            self.assertEqual(r["node_rank"], 0 if r["host"] == "node1" else 1)
            self.assertEqual((r["env"]["NODE_RANK"], r["env"]["GROUP_WORLD_SIZE"], r["env"]["LOCAL_WORLD_SIZE"]),
                             (str(r["node_rank"]), "2", "2"))
            self.assertEqual(r["helpers"], [r["rank"], 4, r["local_rank"], 2, r["node_rank"]])


class HeterogeneousNodes(OpenMpiFakeNodes):
    """Each fake node with its own topology (MPINIT_TOPOLOGY exported by fake-ssh per node)."""

    def test_each_node_plans_on_its_own_topology(self):
        lassen, pascal = topology("mpibind-coral-lassen.xml"), topology("mpibind-cts1-pascal.xml")
        self.node_env("node1", MPINIT_TOPOLOGY=lassen)
        self.node_env("node2", MPINIT_TOPOLOGY=pascal)  # node3: none, so its own discovery
        p = timed("heterogeneous 3 nodes (2,2,1): lassen, pascal, this machine",
                  self.mpirun([("node1", 2), ("node2", 2), ("node3", 1)], 5, PROBE))
        self.assertEqual(p.returncode, 0, str(p))
        recs = parse(p.probe or p.stdout)[0]
        self.check_layout(recs, ["node1", "node1", "node2", "node2", "node3"], p)
        for node_file, ranks in ((lassen, (0, 1)), (pascal, (2, 3))):
            want = offline_plan(node_file, 2)
            for r in ranks:
                plan, lr = recs[r]["plan"], recs[r]["local_rank"]
                self.assertEqual(recs[r]["vars"]["MPINIT_TOPOLOGY"], node_file)
                self.assertEqual(plan["topology"], node_file if lr == 0 else node_file + " (via the local leader)")
                self.assertEqual([g["name"] for g in plan["gpus"]], [g["name"] for g in want[lr]["gpus"]])
                self.assertEqual((plan["cpus"], plan["nic"], plan["numa"]),
                                 (want[lr]["cpus"], want[lr]["nic"], want[lr]["numa"]))
        self.assertEqual((recs[0]["plan"]["gpu_count"], recs[2]["plan"]["gpu_count"]), (4, 2))
        self.assertNotEqual(recs[0]["plan"]["cpus"], recs[2]["plan"]["cpus"])
        self.assertEqual(recs[4]["plan"]["topology"], "discovered")
        self.assertNotIn("MPINIT_TOPOLOGY", recs[4]["vars"])
        self.assertEqual(recs[4]["plan"]["gpus"], [])

    def fail_one_node(self, host, path, *parts):
        self.node_env(host, MPINIT_TOPOLOGY=path)
        p = self.mpirun([("node1", 2), ("node2", 2), ("node3", 1)], 5, PROBE,
                        env=self.env(OMPI_MCA_plm_rsh_agent=AGENT, OMPI_MCA_orte_abort_on_non_zero_status="0"))
        errors = self.check_all_fail(p, 5, "mpinit: phase 'topology' failed on 1 of 5 ranks", "MPINIT_TOPOLOGY: ",
                                     path, *parts)
        print(f"\n  {errors[0]}")
        return p

    def test_a_broken_topology_on_one_node_fails_every_rank(self):
        broken = os.path.join(self.dir, "broken.xml")
        with open(topology("mpibind-coral-lassen.xml")) as f, open(broken, "w") as out:
            out.write(f.read(3000))  # cut in the middle of an element
        p = self.fail_one_node("node2", broken, "(rank 2)", "is not a valid hwloc XML topology",
                               "raised by mpinit::launch on rank 2, node2)")
        timed("heterogeneous, broken topology on node2 (5 ranks fail alike)", p)

    def test_a_missing_topology_on_one_node_fails_every_rank(self):
        p = self.fail_one_node("node3", "/nonexistent/node3.xml", "(rank 4)", "cannot read the topology file",
                               "raised by mpinit::launch on rank 4, node3)")
        timed("heterogeneous, missing topology on node3 (5 ranks fail alike)", p)


# ---------------------------------------------------------------------------------------------
# Faults across nodes: one rank exits, is killed or is slow, inside or before launch()
# ---------------------------------------------------------------------------------------------
TIMED_OUT = re.compile(r"mpinit: launch did not finish within (\S+ s)(?: \(the default\))?: this rank waited \d+ s "
                       r"in phase '(\w+)' for ranks that have not arrived .*; it ends with exit status 124 "
                       r"\(raised by mpinit::launch on rank (\d+), (\S+)\)$")


def fault(rank, at, action, timeout_s=None, **extra):
    """The variables of fault_probe's fault (fault_inject.cpp), and the launch timeout."""
    env = dict(FAULT_RANK=str(rank), FAULT_AT=at, FAULT_ACTION=action, **extra)
    if timeout_s is not None:
        env["MPINIT_LAUNCH_TIMEOUT"] = str(timeout_s)
    return env


class FaultChecks(LauncherCase):
    def check_timed_out(self, p, waiting, phase, setting, maybe=None):
        """Each rank of `waiting` ({rank: host}), and no other, wrote the watchdog's line naming
        `setting` and `phase`; no rank went on; the injected fault happened. The ranks of `maybe`
        ({rank: host}) may write it too (a stopped rank that the launcher continues before it kills it)."""
        self.assertIn("fault_inject: rank ", p.stderr, str(p))
        lines = [re.sub(r"^\s*\d+: ", "", l) for l in p.stderr.splitlines() if "mpinit: launch did not finish" in l]
        got = {}
        for line in lines:
            m = TIMED_OUT.search(line)
            self.assertTrue(m, "unexpected form: " + line)
            self.assertEqual((m.group(1), m.group(2)), (setting, phase), line)
            got[int(m.group(3))] = m.group(4)
        for r, host in (maybe or {}).items():
            if got.get(r) == host:
                del got[r]
        self.assertEqual(got, waiting, str(p))
        self.assertEqual(parse(p.probe or p.stdout)[0], [], str(p))
        print(f"\n  {lines[0]}")


    def check_threads(self, p, ranks, level, finalized=()):
        """fault_inject's thread check: each of `ranks` initialized MPI at `level`; no rank made an
        MPI call from a thread other than its MPI_Init_thread's (unless `level` is
        MPI_THREAD_MULTIPLE); each of `finalized` reached MPI_Finalize having made calls."""
        inits = re.findall(r"^thread_check: rank (\d+): MPI_Init_thread on thread \d+, provided (\w+)$", p.stderr, re.M)
        self.assertEqual(sorted(int(r) for r, _ in inits), sorted(ranks), str(p))
        self.assertEqual({lv for _, lv in inits}, {level}, str(p))
        self.assertEqual(re.findall(r"^thread_check: rank \d+: \w+ from thread .*$", p.stderr, re.M), [], str(p))
        ends = re.findall(r"^thread_check: rank (\d+): (\d+) MPI calls, (\d+) from another thread", p.stderr, re.M)
        self.assertEqual(sorted(int(r) for r, _, _ in ends), sorted(finalized), str(p))
        for r, calls, foreign in ends:
            self.assertGreater(int(calls), 10, str(p))  # launch()'s phases, the probe's collectives
            self.assertEqual(foreign, "0", str(p))


class FaultsAcrossNodes(OpenMpiFakeNodes, FaultChecks):
    """Two fake nodes, two ranks each, under Open MPI's mpirun; rank 3 (node2) is the faulty one.
    With orte_abort_on_non_zero_status=0, mpirun itself does nothing when a rank exits: only
    mpinit's launch timeout ends the others."""
    NODES = [("node1", 2), ("node2", 2)]
    OTHERS = {0: "node1", 1: "node1", 2: "node2"}

    # Each rank's exit status, on stderr: the probe run by a shell that says how it ended.
    # (The shell exits with the probe's status: a 0 would make mpirun abort the job at once, as a
    # rank "exiting improperly".)
    WITH_STATUS = ["/bin/sh", "-c", '"$0"; s=$?; echo "rank $OMPI_COMM_WORLD_RANK exit status $s" >&2; exit $s',
                   FAULT_PROBE]

    def run_fault(self, name, *, abort=True, cmd=(FAULT_PROBE,), **variables):
        env = self.env(OMPI_MCA_plm_rsh_agent=AGENT, **variables)
        if not abort:
            env["OMPI_MCA_orte_abort_on_non_zero_status"] = "0"
        return timed(name, self.mpirun(self.NODES, 4, *cmd, env=env))

    def run_fault_before_mpi(self, name, **variables):
        """run_fault with orte_abort_on_non_zero_status=0, for faults where no rank gets through
        MPI_Init. Open MPI 4.1's mpirun then sometimes never returns once every rank has ended (about
        1 run in 5 here, whether the ranks exit or die by a signal; without the timeout the ranks
        themselves wait for ever). The ranks are what is tested: the run must end with no rank left
        within the limit; mpirun (and its orted) still there 5 s later is killed and reported."""
        hostfile = os.path.join(self.dir, "hosts")
        with open(hostfile, "w") as f:
            f.writelines(f"{h} slots={n}\n" for h, n in self.NODES)
        env = self.env(OMPI_MCA_plm_rsh_agent=AGENT, OMPI_MCA_orte_abort_on_non_zero_status="0", **variables)
        env[MARK] = MARK_VALUE
        cmd = [program("mpirun.openmpi", "mpiexec.openmpi"), "--hostfile", hostfile, "-np", "4", FAULT_PROBE]
        out = tempfile.TemporaryFile("w+")
        err = tempfile.TemporaryFile("w+")
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, start_new_session=True)
        ranks_seen, ranks_gone = False, None
        while proc.poll() is None:
            now = time.monotonic()
            self.assertLess(now - t0, LIMIT_S, "ranks still running: " + str(marked()))
            running = any(n == "fault_probe" for _, n in marked())
            ranks_seen |= running
            if ranks_seen and not running:
                ranks_gone = ranks_gone or now
                if now - ranks_gone > 5:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    print(f"\n  (mpirun did not return after the ranks ended: killed, {now - t0:.1f} s)")
                    break
            time.sleep(0.1)
        out.seek(0)
        err.seek(0)
        p = Result(cmd, proc.returncode, out.read(), err.read(), (ranks_gone or time.monotonic()) - t0)
        left = reap()
        self.assertEqual(left, [], str(p))
        return timed(name, p)

    def test_a_rank_exiting_at_start_times_out_the_others(self):
        # Without the timeout the others would wait in MPI_Init for ever (mpirun does not act).
        p = self.run_fault_before_mpi("fault: rank 3 exits at start, timeout 3 s", **fault(3, "start", "exit:3", 3))
        self.check_timed_out(p, self.OTHERS, "mpi", "MPINIT_LAUNCH_TIMEOUT=3 s")

    def test_a_rank_exiting_in_mpi_init_times_out_the_others(self):
        p = self.run_fault_before_mpi("fault: rank 3 exits in MPI_Init, timeout 3 s",
                                      **fault(3, "MPI_Init_thread", "exit:3", 3))
        self.check_timed_out(p, self.OTHERS, "mpi", "MPINIT_LAUNCH_TIMEOUT=3 s")

    def test_a_rank_exiting_inside_launch_times_out_the_others(self):
        # Rank 3 leaves while its node leader broadcasts the topology (its second MPI_Bcast);
        # the others wait in that phase's agreement; MPI_Abort then ends the job. Placement after
        # MPI_Init, where the topology travels over MPI (before it, the node share carries it).
        p = self.run_fault("fault: rank 3 exits in the topology phase, timeout 3 s", abort=False, cmd=self.WITH_STATUS,
                           **fault(3, "MPI_Bcast:2", "exit:3", 3, MPINIT_PLACE="after"))
        self.check_timed_out(p, self.OTHERS, "topology", "MPINIT_LAUNCH_TIMEOUT=3 s")
        # At MPI_THREAD_FUNNELED the watchdog does not call MPI_Abort from its thread: each waiting
        # rank ends itself with _exit(124). With orte_abort_on_non_zero_status=0 mpirun then
        # ignores the ranks' statuses (Open MPI 4.1 returns 0), so their own statuses are checked,
        # and that all ended soon after the timeout (run() fails on any process left).
        statuses = dict(re.findall(r"^rank (\d) exit status (\d+)$", p.stderr, re.M))
        self.assertEqual(statuses, {"0": "124", "1": "124", "2": "124", "3": "3"}, str(p))
        self.assertLess(p.seconds, 20, str(p))

    def test_a_rank_killed_inside_launch_ends_the_job(self):
        # A signal ends the job by mpirun's own rule, well before mpinit's timeout.
        p = self.run_fault("fault: rank 3 killed in the identity phase", **fault(3, "MPI_Allreduce:2", "kill", 60))
        self.assertIn("fault_inject: rank 3, node2: kill at MPI_Allreduce:2", p.stderr, str(p))
        self.assertNotEqual(p.returncode, 0, str(p))
        self.assertNotIn("mpinit: launch did not finish", p.stderr, str(p))
        self.assertEqual(parse(p.probe or p.stdout)[0], [], str(p))
        self.assertLess(p.seconds, 30, str(p))

    def test_a_slow_rank_within_the_timeout_is_waited_for(self):
        for at in ("start", "MPI_Init_thread", "MPI_Bcast:2"):
            p = self.run_fault(f"fault: rank 3 sleeps 3 s at {at}, timeout 20 s", **fault(3, at, "sleep:3", 20))
            self.assertEqual(p.returncode, 0, str(p))
            self.assertIn(f"fault_inject: rank 3, node2: sleep:3 at {at}", p.stderr)
            self.check_layout(parse(p.probe or p.stdout)[0], ["node1", "node1", "node2", "node2"], p)

    def test_a_slow_rank_past_the_timeout_fails_the_others(self):
        p = self.run_fault("fault: rank 3 sleeps 40 s at start, timeout 3 s", **fault(3, "start", "sleep:40", 3))
        self.check_timed_out(p, self.OTHERS, "mpi", "MPINIT_LAUNCH_TIMEOUT=3 s")
        self.assertEqual(p.returncode, 124, str(p))
        self.assertLess(p.seconds, 30, str(p))  # mpirun ended the sleeping rank too

    def test_a_rank_stalled_inside_launch_past_a_flag_timeout(self):
        # The timeout given as a flag; rank 3 stalls in the seed phase (its second MPI_Bcast: the
        # first is the identity's, and placement before MPI_Init makes none).
        # Being inside launch() too, its own watchdog fires as well.
        env = self.env(OMPI_MCA_plm_rsh_agent=AGENT, **fault(3, "MPI_Bcast:2", "sleep:40"))
        p = timed("fault: rank 3 sleeps 40 s in the seed phase, --mpinit-launch-timeout=2",
                  self.mpirun(self.NODES, 4, FAULT_PROBE, "--mpinit-launch-timeout=2", env=env))
        self.check_timed_out(p, {**self.OTHERS, 3: "node2"}, "seed", "--mpinit-launch-timeout=2 s")
        self.assertLess(p.seconds, 30, str(p))


    # A stopped rank (SIGSTOP: every thread of it stops, its watchdog too) is the fault no exit
    # reveals. The others' watchdogs end them with status 124 (by _exit: they do not call MPI from
    # the watchdog's thread at MPI_THREAD_FUNNELED), and mpirun, seeing a rank exit non-zero,
    # ends the job: the stopped rank and the orted too (run() fails on any process left).
    # Open MPI's orted sends SIGCONT before SIGTERM and SIGKILL, so the stopped rank may run for a
    # moment, past its deadline: its own watchdog may then write its line as well.
    def check_stopped(self, name, at, phase):
        p = self.run_fault(name, **fault(3, at, "stop", 5), THREAD_CHECK="1")
        self.assertIn(f"fault_inject: rank 3, node2: stop at {at}", p.stderr, str(p))
        self.check_timed_out(p, self.OTHERS, phase, "MPINIT_LAUNCH_TIMEOUT=5 s", maybe={3: "node2"})
        self.assertEqual(p.returncode, 124, str(p))  # mpirun passes on the first rank's status
        self.assertLess(p.seconds, 20, str(p))
        return p

    def test_a_rank_stopped_before_mpi_init_is_ended_with_the_job(self):
        self.check_stopped("fault: rank 3 stopped (SIGSTOP) entering MPI_Init, timeout 5 s", "MPI_Init_thread", "mpi")

    def test_a_rank_stopped_after_mpi_init_is_ended_with_the_job(self):
        # Rank 3 stops in the seed phase (its second MPI_Bcast), after MPI_Init: ranks 0-2 wait in
        # the seed's broadcast, MPI up, when their watchdogs fire. No MPI call from a watchdog's
        # thread (fault_inject.cpp's THREAD_CHECK): every rank's MPI_Init_thread was seen, no call
        # from another thread was.
        p = self.check_stopped("fault: rank 3 stopped (SIGSTOP) in the seed phase, timeout 5 s", "MPI_Bcast:2", "seed")
        self.check_threads(p, {0, 1, 2, 3}, "MPI_THREAD_FUNNELED")

    def test_no_mpi_call_from_another_thread_in_a_normal_launch(self):
        p = self.run_fault("thread check: 2 nodes x 2, no fault", THREAD_CHECK="1")
        self.assertEqual(p.returncode, 0, str(p))
        self.check_layout(parse(p.probe or p.stdout)[0], ["node1", "node1", "node2", "node2"], p)
        self.check_threads(p, {0, 1, 2, 3}, "MPI_THREAD_FUNNELED", finalized={0, 1, 2, 3})

    def test_at_thread_multiple_the_watchdog_ends_the_job_with_mpi_abort(self):
        # Where MPI provides MPI_THREAD_MULTIPLE, the watchdog's thread may call MPI_Abort: with
        # mpirun's abort on a non-zero exit off, MPI_Abort(124) is what ends the stopped rank.
        p = self.run_fault("fault: rank 3 stopped in the seed phase, MPI_THREAD_MULTIPLE, abort off, timeout 5 s",
                           abort=False, **fault(3, "MPI_Bcast:2", "stop", 5), THREAD_CHECK="1",
                           MPINIT_THREAD_LEVEL="multiple")
        if "provided MPI_THREAD_MULTIPLE" not in p.stderr:
            self.skipTest("this Open MPI does not provide MPI_THREAD_MULTIPLE")
        self.check_timed_out(p, self.OTHERS, "seed", "MPINIT_LAUNCH_TIMEOUT=5 s", maybe={3: "node2"})
        self.check_threads(p, {0, 1, 2, 3}, "MPI_THREAD_MULTIPLE")
        self.assertIn("MPI_ABORT was invoked", p.stderr, str(p))
        self.assertEqual(p.returncode, 124, str(p))
        self.assertLess(p.seconds, 20, str(p))


# ---------------------------------------------------------------------------------------------
# A rank that unwinds from an exception alone (test/mpi/lone_exception.cpp)
# ---------------------------------------------------------------------------------------------
LONE_LINE = re.compile(r"^mpinit: rank (\d+) \((\S+)\) unwound from an exception that the other ranks did not raise "
                       r"with it \(not an agreed mpinit::Error\): its Session ends the job with "
                       r"MPI_Abort\(MPI_COMM_WORLD, 1\) .* \(raised by mpinit::~Session on rank (\d+), (\S+)\)$", re.M)


class LoneChecks(LauncherCase):
    def check_lone(self, p, rank, host):
        """Rank `rank` on `host` threw alone while the others waited in MPI_Barrier: it, and only it,
        wrote mpinit's line; the job ended non-zero within 15 s; no rank went on (run() fails on any
        process left: ranks, orted, hydra's proxies)."""
        self.assertEqual(LONE_LINE.findall(p.stderr), [(str(rank), host, str(rank), host)], str(p))
        self.assertNotEqual(p.returncode, 0, str(p))
        self.assertLess(p.seconds, 15, str(p))
        self.assertNotIn("caught: nothing", p.stdout, str(p))  # nobody got through the barrier
        print(f"\n  {LONE_LINE.search(p.stderr).group(0)}")

    def check_agreed(self, p, n, failing):
        """Every rank caught the same agreed Error after MPI_Finalize; none aborted."""
        self.assertEqual(LONE_LINE.findall(p.stderr), [], str(p))
        caught = re.findall(r"^rank (\d+): caught: (mpinit: phase 'work' failed on 1 of \d+ ranks \(rank \d+\): "
                            r"this rank's input is bad .*); MPI finalized: 1$", p.stdout, re.M)
        self.assertEqual(sorted(int(r) for r, _ in caught), list(range(n)), str(p))
        self.assertEqual(len({m for _, m in caught}), 1, str(p))
        self.assertIn(f"(rank {failing})", caught[0][1])
        self.assertLess(p.seconds, 15, str(p))


class LoneExceptionFakeNodes(OpenMpiFakeNodes, LoneChecks):
    """Two fake nodes, two ranks each, under Open MPI's mpirun with its abort on a non-zero exit off:
    only the lone rank's MPI_Abort can end the others."""
    NODES = [("node1", 2), ("node2", 2)]

    def lone_run(self, mode, rank):
        env = self.env(OMPI_MCA_plm_rsh_agent=AGENT, OMPI_MCA_orte_abort_on_non_zero_status="0", LONE_RANK=str(rank))
        return self.mpirun(self.NODES, 4, LONE, mode, env=env)

    def test_a_lone_exception_on_the_second_node_ends_the_job(self):
        p = timed("lone exception: rank 3 (node2) throws, the others wait in MPI_Barrier", self.lone_run("lone", 3))
        self.check_lone(p, 3, "node2")
        self.assertIn("MPI_ABORT was invoked on rank 3", p.stderr, str(p))

    def test_a_lone_exception_on_rank_0_ends_the_job(self):
        p = timed("lone exception: rank 0 (node1) throws, the others wait in MPI_Barrier", self.lone_run("lone", 0))
        self.check_lone(p, 0, "node1")

    def test_an_agreed_error_finalizes_every_rank(self):
        p = timed("agreed error on 2 fake nodes: every rank finalizes", self.lone_run("agreed", 2))
        self.check_agreed(p, 4, 2)


class HydraFakeNodes(FakeNodes):
    """MPICH's mpiexec.hydra over fake nodes (-launcher ssh -launcher-exec fake-ssh)."""

    def hydra(self, slots, np, *cmd, env=None):
        hostfile = os.path.join(self.dir, "hosts.hydra")
        with open(hostfile, "w") as f:
            f.writelines(f"{h}:{s}\n" for h, s in slots)
        hydra = program("mpiexec.hydra", "mpiexec.mpich")
        return run([hydra, "-f", hostfile, "-launcher", "ssh", "-launcher-exec", AGENT, "-n", str(np), *cmd],
                   env=env or self.env(), limit=120)

    def check_hydra(self, recs, hosts, p):
        self.check_layout(recs, hosts, p, "hydra", [("PMI_RANK", "rank"), ("MPI_LOCALRANKID", "local_rank")])

    def test_placed_at_mpi_init_on_two_nodes(self):
        got = check_placed_at_init(self, lambda cmd: timed(
            "probe at MPI_Init, hydra 2 fake nodes x 2", self.hydra([("node1", 2), ("node2", 2)], 4, *cmd)))
        self.assertEqual(sum(info["topology"]["discovered_here"] for info, _ in got.values()), 2)

    def test_two_nodes_two_ranks_each(self):
        p = timed("hydra 2 fake nodes x 2", self.hydra([("node1", 2), ("node2", 2)], 4, PROBE))
        self.assertEqual(p.returncode, 0, str(p))
        self.check_hydra(parse(p.probe or p.stdout)[0], ["node1", "node1", "node2", "node2"], p)

    def test_uneven_three_nodes(self):
        p = timed("hydra 3 fake nodes (2,2,1)", self.hydra([("node1", 2), ("node2", 2), ("node3", 1)], 5, PROBE))
        self.assertEqual(p.returncode, 0, str(p))
        self.check_hydra(parse(p.probe or p.stdout)[0], ["node1", "node1", "node2", "node2", "node3"], p)

    def test_round_robin_over_four_nodes(self):
        nodes = [f"node{k}" for k in range(1, 5)]
        p = timed("hydra 4 fake nodes x 2, round robin", self.hydra([(h, 1) for h in nodes], 8, PROBE))
        self.assertEqual(p.returncode, 0, str(p))
        self.check_hydra(parse(p.probe or p.stdout)[0], nodes + nodes, p)

    def test_a_slow_rank_past_the_timeout_fails_the_others(self):
        p = timed("fault: hydra 2 fake nodes x 2, rank 3 sleeps 40 s at start, timeout 3 s",
                  self.hydra([("node1", 2), ("node2", 2)], 4, FAULT_PROBE,
                             env=self.env(**fault(3, "start", "sleep:40", 3))))
        FaultChecks.check_timed_out(self, p, {0: "node1", 1: "node1", 2: "node2"}, "mpi", "MPINIT_LAUNCH_TIMEOUT=3 s")
        self.assertNotEqual(p.returncode, 0, str(p))
        self.assertLess(p.seconds, 30, str(p))  # hydra ended the sleeping rank too

    def test_a_lone_exception_ends_the_job(self):
        p = timed("lone exception: hydra 2 fake nodes x 2, rank 3 throws, the others wait in MPI_Barrier",
                  self.hydra([("node1", 2), ("node2", 2)], 4, LONE, "lone", env=self.env(LONE_RANK="3")))
        LoneChecks.check_lone(self, p, 3, "node2")

    def test_an_agreed_error_finalizes_every_rank(self):
        p = timed("agreed error: hydra 2 fake nodes x 2, every rank finalizes",
                  self.hydra([("node1", 2), ("node2", 2)], 4, LONE, "agreed", env=self.env(LONE_RANK="1")))
        LoneChecks.check_agreed(self, p, 4, 1)
        self.assertEqual(p.returncode, 1, str(p))

    def test_a_rank_stopped_after_mpi_init_is_ended_with_the_job(self):
        # As FaultsAcrossNodes' case: rank 3 stops (SIGSTOP) in the seed phase; ranks 0-2 time out
        # with MPI up and end by _exit(124), making no MPI call from the watchdog's thread; hydra
        # ends the job, the stopped rank and its proxies with it (run() fails on any process left).
        p = timed("fault: hydra 2 fake nodes x 2, rank 3 stopped (SIGSTOP) in the seed phase, timeout 5 s",
                  self.hydra([("node1", 2), ("node2", 2)], 4, FAULT_PROBE,
                             env=self.env(**fault(3, "MPI_Bcast:2", "stop", 5), THREAD_CHECK="1")))
        others = {0: "node1", 1: "node1", 2: "node2"}
        FaultChecks.check_timed_out(self, p, others, "seed", "MPINIT_LAUNCH_TIMEOUT=5 s", maybe={3: "node2"})
        FaultChecks.check_threads(self, p, {0, 1, 2, 3}, "MPI_THREAD_FUNNELED")
        self.assertNotEqual(p.returncode, 0, str(p))
        self.assertLess(p.seconds, 20, str(p))

    def suite_env(self):
        return self.env(MPINIT_TOPOLOGIES=TOPOLOGIES)

    def test_mpi_suite_on_two_fake_nodes(self):
        # On one node the suite runs under plain mpiexec.hydra (the mpi suite of this build).
        p = timed("MPI gtest suite, hydra, 2 fake nodes x 2 (one-node tests left out)",
                  self.hydra([("node1", 2), ("node2", 2)], 4, MPI_TESTS, "--gtest_filter=-" + ":".join(ONE_NODE_TESTS),
                             env=self.suite_env()))
        self.assertEqual(p.returncode, 0, str(p))
        self.assertIn("[  PASSED  ]", p.stdout)


# ---------------------------------------------------------------------------------------------
# A local Slurm cluster: n1..n3, 4 CPUs and 2 fake GPUs each
# ---------------------------------------------------------------------------------------------
_on_term_commands = []


def _on_term(signum, frame):
    """meson's timeout sends SIGTERM to this process's group, and SIGKILL 0.5 s later. A child in
    a session of its own ends this run's processes (they run in sessions of their own too),
    removes the scratch directories and stops the cluster; this process goes at once."""
    if os.fork() == 0:
        os.setsid()
        reap(3, term=True)
        for cmd in _on_term_commands:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        for d in SCRATCH:
            shutil.rmtree(d, True)
        os._exit(0)
    os._exit(128 + signum)


class SlurmCluster(LauncherCase):
    @classmethod
    def setUpClass(cls):
        program("slurmctld")
        program("slurmd")
        program("munged")
        # One cluster at a time on this machine (fixed ports): wait for another test run's. The lock
        # is on slurm-up.sh itself, so that nothing is left behind.
        cls.lock = open(SLURM_UP)
        cls.addClassCleanup(cls.lock.close)
        deadline = time.monotonic() + 200  # within meson's 300 s for the group
        while True:
            try:
                fcntl.flock(cls.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"another test run has held the cluster ({SLURM_UP}) for 200 s")
                time.sleep(0.5)
        _on_term_commands.append([SLURM_DOWN, SLURM_DIR])
        cls.addClassCleanup(cls.down)
        p = run([SLURM_UP, str(SLURM_NODES), SLURM_DIR], mark=False, limit=60)
        TIMINGS.append((f"slurm-up.sh {SLURM_NODES} nodes", p.seconds))
        if p.returncode != 0:
            raise AssertionError(str(p))
        cls.conf = os.path.join(SLURM_DIR, "etc", "slurm.conf")

    @classmethod
    def down(cls):
        p = run([SLURM_DOWN, SLURM_DIR], mark=False, limit=60)
        TIMINGS.append(("slurm-down.sh", p.seconds))
        _on_term_commands.clear()
        if p.returncode != 0:
            raise AssertionError(str(p))

    def env(self, **extra):
        return clean_env(SLURM_CONF=self.conf, **extra)

    def srun(self, *args, env=None, limit=LIMIT_S):
        return run([program("srun"), *args], env=env or self.env(), limit=limit, probe_dir=self.scratch())

    def wait_idle(self, limit=30):
        """Waits until every node is idle again: a step ended by MPI_Abort or a failed task leaves its
        nodes COMPLETING for a moment, and the next job would be placed elsewhere."""
        deadline = time.monotonic() + limit
        while True:
            p = run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env(), mark=False)
            states = dict(line.split() for line in p.stdout.splitlines() if line.strip())
            if states and all(s == "idle" for s in states.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"nodes not idle after {limit} s: {states}")
            time.sleep(0.2)

    def wait_job(self, jobid, limit=LIMIT_S):
        """Waits until batch job `jobid` has ended; returns its state line from scontrol."""
        deadline = time.monotonic() + limit
        while True:
            p = run(["scontrol", "-o", "show", "job", jobid], env=self.env(), mark=False)
            state = re.search(r"JobState=(\S+)", p.stdout)
            if state and state.group(1) not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
                return p.stdout
            if time.monotonic() > deadline:
                run(["scancel", jobid], env=self.env(), mark=False)
                raise AssertionError(f"batch job {jobid} did not end in {limit} s: {p.stdout}")
            time.sleep(0.1)

    def check_slurm_direct(self, recs, hosts, p):
        self.check_layout(recs, hosts, p, "slurm", [("SLURM_PROCID", "rank"), ("SLURM_LOCALID", "local_rank"),
                                                    ("SLURM_NODEID", "node_rank")])
        for rec in recs:
            self.assertEqual(rec["env"]["local_size"]["source"], "SLURM_STEP_TASKS_PER_NODE")

    def srun_two_nodes_uneven(self, plugin, label):
        p = timed(f"{label}srun --mpi={plugin} -N2 -n3 (2,1)", self.srun(f"--mpi={plugin}", "-N2", "-n3", PROBE))
        self.assertEqual(p.returncode, 0, str(p))
        recs = parse(p.probe)[0]
        self.check_slurm_direct(recs, ["n1", "n1", "n2"], p)
        return recs


class SlurmOpenMpi(SlurmCluster, FaultChecks):
    # srun does not end a step when one task exits (no --kill-on-bad-exit here): the others would
    # wait in MPI_Init or a collective for ever, but for mpinit's launch timeout.
    def test_a_task_exiting_at_start_times_out_the_others(self):
        self.addCleanup(self.wait_idle)
        p = timed("fault: srun --mpi=pmix -N2 --ntasks-per-node=2, task 3 exits at start, timeout 3 s",
                  self.srun("--mpi=pmix", "-N2", "--ntasks-per-node=2", FAULT_PROBE, env=self.env(**fault(3, "start", "exit:3", 3))))
        self.check_timed_out(p, {0: "n1", 1: "n1", 2: "n2"}, "mpi", "MPINIT_LAUNCH_TIMEOUT=3 s")
        self.assertNotEqual(p.returncode, 0, str(p))

    def test_a_task_stalled_inside_launch_times_out_every_task(self):
        # (A task that exits inside launch() is seen by Slurm's PMIx plugin, which cancels the step.)
        self.addCleanup(self.wait_idle)
        p = timed("fault: srun --mpi=pmix -N2 --ntasks-per-node=2, task 3 stalls in the seed phase, timeout 3 s",
                  self.srun("--mpi=pmix", "-N2", "--ntasks-per-node=2", FAULT_PROBE,
                            env=self.env(**fault(3, "MPI_Bcast:2", "sleep:40", 3))))  # the seed's
        self.check_timed_out(p, {0: "n1", 1: "n1", 2: "n2", 3: "n2"}, "seed", "MPINIT_LAUNCH_TIMEOUT=3 s")
        self.assertNotEqual(p.returncode, 0, str(p))
        # Each task's watchdog ends it (_exit(124): no MPI call from its thread at MPI_THREAD_FUNNELED).
        self.assertLess(p.seconds, 30, str(p))

    def test_placed_at_mpi_init_under_srun_pmix(self):
        got = check_placed_at_init(self, lambda cmd: timed(
            "probe at MPI_Init, srun --mpi=pmix -N2 --ntasks-per-node=2",
            self.srun("--mpi=pmix", "-N2", "--ntasks-per-node=2", *cmd)))
        self.assertEqual(sorted(info["host"] for info, _ in got.values()), ["n1", "n1", "n2", "n2"])
        self.assertEqual(sum(info["topology"]["discovered_here"] for info, _ in got.values()), 2)

    def test_srun_pmix_two_nodes_uneven(self):
        for rec in self.srun_two_nodes_uneven("pmix", ""):
            self.assertEqual(rec["env"]["nodes"], ["n1", "n2"])
            self.assertNotIn("OMPI_COMM_WORLD_RANK", rec["vars"])  # direct launch: no mpirun

    def test_srun_pmix_three_nodes_cyclic(self):
        # The allocation is 3,1,1 tasks (nodes are filled in order); cyclic deals the ranks out.
        p = timed("srun --mpi=pmix -N3 -n5 -m cyclic (3,1,1, ranks dealt round robin)",
                  self.srun("--mpi=pmix", "-N3", "-n5", "-m", "cyclic", PROBE))
        self.assertEqual(p.returncode, 0, str(p))
        recs = parse(p.probe)[0]
        self.check_slurm_direct(recs, ["n1", "n2", "n3", "n1", "n1"], p)
        self.assertEqual([r["env"]["local_size"]["value"] for r in recs], [3, 1, 1, 3, 3])

    def gpu_env(self):
        return self.env(MPINIT_TOPOLOGY=topology("mpibind-cts1-pascal.xml"))  # 2 GPUs, like the fake nodes

    def planned_physical(self, rec):
        self.assertEqual(len(rec["plan"]["gpus"]), 1, rec)
        return rec["plan"]["gpus"][0]["physical"]

    def test_gpus_per_task_plan_follows_the_visible_gpu(self):
        p = timed("srun --gpus-per-task=1 -N2 -n3",
                  self.srun("--mpi=pmix", "-N2", "-n3", "--gpus-per-task=1", PROBE, env=self.gpu_env()))
        self.assertEqual(p.returncode, 0, str(p))
        recs = parse(p.probe or p.stdout)[0]
        self.check_slurm_direct(recs, ["n1", "n1", "n2"], p)
        for rec in recs:
            visible = rec["vars"]["CUDA_VISIBLE_DEVICES"]
            self.assertRegex(visible, r"^[01]$", "Slurm narrows each task to one GPU")
            self.assertEqual(self.planned_physical(rec), int(visible), rec)
            self.assertEqual(rec["plan"]["gpus"][0]["ordinal"], 0)
        self.assertEqual(sorted(r["vars"]["CUDA_VISIBLE_DEVICES"] for r in recs[:2]), ["0", "1"])

    def test_gpu_bind_map_reverses_the_plan(self):
        # Slurm gives task 0 GPU 1 and task 1 GPU 0: the opposite of the plan without a visible list.
        p = timed("srun --gpus-per-node=2 --gpu-bind=map_gpu:1,0 -N1 -n2",
                  self.srun("--mpi=pmix", "-N1", "-n2", "--gpus-per-node=2", "--gpu-bind=map_gpu:1,0", PROBE,
                            env=self.gpu_env()))
        self.assertEqual(p.returncode, 0, str(p))
        recs = parse(p.probe or p.stdout)[0]
        self.check_slurm_direct(recs, [recs[0]["host"]] * 2, p)  # one node, whichever Slurm picked
        self.assertEqual([r["vars"]["CUDA_VISIBLE_DEVICES"] for r in recs], ["1", "0"])
        self.assertEqual([self.planned_physical(r) for r in recs], [1, 0])
        unconstrained = offline_plan(topology("mpibind-cts1-pascal.xml"), 2)
        self.assertEqual([g["physical"] for r in unconstrained for g in r["gpus"]], [0, 1])

    def test_gpus_per_node_one_gpu_for_two_ranks(self):
        p = timed("srun --gpus-per-node=1 -N2 --ntasks-per-node=2",
                  self.srun("--mpi=pmix", "-N2", "--ntasks-per-node=2", "--gpus-per-node=1", PROBE,
                            env=self.gpu_env()))
        self.assertEqual(p.returncode, 0, str(p))
        recs = parse(p.probe or p.stdout)[0]
        self.check_slurm_direct(recs, ["n1", "n1", "n2", "n2"], p)
        for rec in recs:
            self.assertEqual(rec["vars"]["CUDA_VISIBLE_DEVICES"], "0")
            self.assertEqual(rec["vars"]["SLURM_STEP_GPUS"], "0")
            self.assertEqual(self.planned_physical(rec), 0, rec)  # local rank 1 too: GPU 1 is not its node's

    def test_srun_without_mpi_env_only(self):
        p = timed("srun --mpi=none -N2 -n3, mpinit info --env-only",
                  self.srun("--mpi=none", "-l", "-N2", "-n3", TOOL, "info", "--env-only", "--json"))
        self.assertEqual(p.returncode, 0, str(p))
        recs = sorted((json.loads(t) for t in labelled(p.stdout).values()), key=lambda r: r["rank"])
        for rec in recs:
            rec["size"] = rec["world_size"]
            self.assertFalse(rec["from_mpi"])
            self.assertEqual(rec["launcher"], "slurm")
            self.assertEqual(rec["sources"], {"rank": "SLURM_PROCID", "world_size": "SLURM_STEP_NUM_TASKS",
                                              "local_rank": "SLURM_LOCALID",
                                              "local_size": "SLURM_STEP_TASKS_PER_NODE",
                                              "node_rank": "SLURM_NODEID", "node_count": "SLURM_STEP_NUM_NODES"})
        self.check_layout(recs, ["n1", "n1", "n2"], p)

    SHOW = ["/bin/sh", "-c", 'echo "$RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $NODE_RANK $GROUP_WORLD_SIZE '
            '$MASTER_ADDR $MASTER_PORT $SLURM_JOB_ID $SLURM_STEP_ID"']

    def check_exec_rows(self, p):
        rows = {t: text.split() for t, text in labelled(p.stdout).items()}
        self.assertEqual(sorted(rows), [0, 1, 2], str(p))
        expect = {0: ["0", "3", "0", "2", "0", "2"], 1: ["1", "3", "1", "2", "0", "2"], 2: ["2", "3", "0", "1", "1", "2"]}
        for t, f in rows.items():
            self.assertEqual(f[:6], expect[t], f)
        self.assertEqual(len({tuple(f[6:8]) for f in rows.values()}), 1, rows)  # one rendezvous for all
        return rows[0]

    def test_exec_under_srun_pmix(self):
        # torchrun's variables from MPI; MASTER_ADDR is an address of rank 0's host that the other
        # node can reach (two nodes: not loopback), MASTER_PORT one rank 0 found free.
        p = timed("srun --mpi=pmix -N2 -n3, mpinit exec", self.srun("--mpi=pmix", "-l", "-N2", "-n3", TOOL, "exec", "--",
                                                                 *self.SHOW))
        self.assertEqual(p.returncode, 0, str(p))
        row = self.check_exec_rows(p)
        self.assertFalse(row[6].startswith("127."), row)

    def test_exec_under_srun_without_mpi(self):
        # No MPI: the rendezvous comes from the step's node list and the job and step ids.
        p = timed("srun --mpi=none -N2 -n3, mpinit exec --env-only",
                  self.srun("--mpi=none", "-l", "-N2", "-n3", TOOL, "exec", "--env-only", "--", *self.SHOW))
        self.assertEqual(p.returncode, 0, str(p))
        row = self.check_exec_rows(p)
        job, step = int(row[8]), int(row[9])
        self.assertEqual(row[6:8], ["n1", str(20000 + (job * 64 + step) % 20000)])

    def test_step_lists_inside_a_larger_allocation(self):
        # The job has n[1-3]; the step runs on n1 and n3 only: its own list and tasks per node count.
        p = timed("salloc -N3 + srun --mpi=none -N2 -n3 -w n1,n3 (env-only probe)",
                  run([program("salloc"), "-N3", "--ntasks-per-node=2", "srun", "--mpi=none", "-N2", "-n3",
                       "-w", "n1,n3", PROBE], env=self.env(MPINIT_MODE="env_only"), probe_dir=self.scratch()))
        self.assertEqual(p.returncode, 0, str(p))
        recs = parse(p.probe or p.stdout)[0]
        self.check_layout(recs, ["n1", "n1", "n3"], p)
        for rec in recs:
            self.assertFalse(rec["from_mpi"])
            self.assertEqual(rec["env"]["nodes"], ["n1", "n3"])
            self.assertEqual(rec["env"]["nodes"][rec["node_rank"]], rec["host"])
            self.assertEqual(rec["sources"]["node_count"], "SLURM_STEP_NUM_NODES")
            self.assertEqual(rec["sources"]["local_size"], "SLURM_STEP_TASKS_PER_NODE")

    def test_hostlists_decode_as_scontrol_does(self):
        rng = random.Random(5)
        lists = ["n1", "n[1-3]", "n[1,3]", "node[001-003,010]", "rack[1-2]-n[01-02]", "a,b,c", "x[0-1]y[2-3]",
                 "n[9-11]", "n[08-11]", "n[098-101]", "c1n[1-2],c2n3", "n[1,3-4,7]", "n[01-3]", "n[1-03]",
                 "n[1-2],m[3-4]", "gpu-a100-[01-16]", "login1,compute[0001-0128]", "n[1-2]-ib", "a,b[1-2]c"]
        # Lists as Slurm writes them: random sets of names, compressed by scontrol itself.
        for _ in range(40):
            names = set()
            for _ in range(rng.randint(1, 12)):
                prefix = rng.choice(["n", "node", "gpu-", "r1c", "x"])
                width = rng.choice([1, 2, 3, 4])
                names.add(f"{prefix}{rng.randint(0, 10 ** width - 1):0{width}d}")
            q = run(["scontrol", "show", "hostlist", ",".join(sorted(names))], env=self.env(), mark=False)
            self.assertEqual(q.returncode, 0, str(q))
            lists.append(q.stdout.strip())
        ours = run([DECODE, *lists], mark=False).stdout.splitlines()
        self.assertEqual(len(ours), len(lists))
        compared, slurm_rejects = 0, []
        for hostlist, mine in zip(lists, ours):
            q = run(["scontrol", "show", "hostnames", hostlist], env=self.env(), mark=False)
            if "Invalid hostlist" in q.stdout + q.stderr:
                slurm_rejects.append(hostlist)
                continue
            self.assertEqual(mine, "OK " + " ".join(q.stdout.split()), f"{hostlist}: ours differs from scontrol")
            compared += 1
        # scontrol 22.05 rejects a suffix after a bracket at the end of a name; mpinit accepts it.
        self.assertEqual(slurm_rejects, ["n[1-2]-ib", "a,b[1-2]c"])
        print(f"\n  {compared} host lists decode as scontrol does; scontrol rejects {slurm_rejects}")

    def check_mpirun_in_allocation(self, recs, p, procid, ntasks):
        """mpirun inside an allocation: the identity is MPI's and Open MPI's, not the SLURM_* the
        ranks inherit (`procid`, `ntasks`: their SLURM_PROCID and SLURM_NTASKS, rank by rank)."""
        self.check_layout(recs, ["n1", "n1", "n2", "n2"], p, "openmpi", [("OMPI_COMM_WORLD_RANK", "rank")])
        for rec in recs:
            self.assertIn("slurm", rec["env"]["also_present"])
            self.assertEqual(rec["sources"]["rank"], "MPI_Comm_rank")
            self.assertIn("SLURM_JOB_ID", rec["vars"])
        self.assertEqual([rec["vars"]["SLURM_PROCID"] for rec in recs], procid, str(p))
        self.assertEqual([rec["vars"]["SLURM_NTASKS"] for rec in recs], ntasks, str(p))
        self.assertEqual([rec["vars"].get("SLURM_LOCALID", "-") for rec in recs], ["0"] * 4, str(p))

    def test_mpirun_inside_sbatch(self):
        out, probes = os.path.join(self.scratch(), "job.out"), self.scratch()
        mpirun = program("mpirun.openmpi", "mpiexec.openmpi")
        t0 = time.monotonic()
        p = run([program("sbatch"), "--parsable", "-N2", "--ntasks-per-node=2", "-o", out,
                 "--wrap", f"exec {mpirun} {PROBE}"], env=self.env(LAUNCHER_PROBE_DIR=probes), check_left=False)
        self.assertEqual(p.returncode, 0, str(p))
        jobid = p.stdout.strip().split(";")[0]
        state = self.wait_job(jobid)
        TIMINGS.append(("sbatch -N2 --ntasks-per-node=2 'mpirun probe' (submit to end)", time.monotonic() - t0))
        self.assertEqual(reap(), [])
        with open(out) as f:
            result = Result(p.cmd, None, f.read(), "", 0, collect(probes))
        self.assertIn("JobState=COMPLETED", state, str(result))
        self.assertIn("ExitCode=0:0", state, str(result))
        # The batch node's ranks see the batch step (4 tasks), the other node's the daemon step (1 task).
        self.check_mpirun_in_allocation(parse(result.probe)[0], result, ["0"] * 4, ["4", "4", "1", "1"])

    def test_mpirun_inside_salloc(self):
        mpirun = program("mpirun.openmpi", "mpiexec.openmpi")
        p = timed("salloc -N2 --ntasks-per-node=2 mpirun probe",
                  run([program("salloc"), "-N2", "--ntasks-per-node=2", mpirun, PROBE], env=self.env(),
                      probe_dir=self.scratch()))
        self.assertEqual(p.returncode, 0, str(p))
        # Open MPI's daemons run as one step with a task per node: ranks see the daemon's task.
        self.check_mpirun_in_allocation(parse(p.probe or p.stdout)[0], p, ["0", "0", "1", "1"], ["2"] * 4)


class SlurmMpich(SlurmCluster):
    def test_srun_pmi2_two_nodes_uneven(self):
        recs = self.srun_two_nodes_uneven("pmi2", "MPICH ")
        self.check_layout(recs, ["n1", "n1", "n2"], recs, variables=[("PMI_RANK", "rank")])

    def test_mpi_suite_under_srun_pmi2(self):
        env = self.env(MPINIT_TOPOLOGIES=TOPOLOGIES)
        p = timed("MPI gtest suite, srun --mpi=pmi2 -N1 -n3",
                  self.srun("--mpi=pmi2", "-N1", "-n3", MPI_TESTS, env=env, limit=120))
        self.assertEqual(p.returncode, 0, str(p))
        self.assertIn("[  PASSED  ]", p.stdout)
        p = timed("MPI gtest suite, srun --mpi=pmi2 -N2 -n4 (one-node tests left out)",
                  self.srun("--mpi=pmi2", "-N2", "--ntasks-per-node=2", MPI_TESTS,
                            "--gtest_filter=-" + ":".join(ONE_NODE_TESTS), env=env, limit=120))
        self.assertEqual(p.returncode, 0, str(p))
        self.assertIn("[  PASSED  ]", p.stdout)

    def check_singletons(self, plugin):
        p = timed(f"MPICH under srun --mpi={plugin} -N2 -n3: 3 singletons reported",
                  self.srun(f"--mpi={plugin}", "-N2", "-n3", PROBE))
        self.assertNotEqual(p.returncode, 0, str(p))
        errors = self.check_all_fail(p, 3, "phase 'identity' failed",
                                     "MPI sees a world of 1 process but SLURM_STEP_NUM_TASKS=3",
                                     "every process is a singleton", "built with MPICH", "srun --mpi=pmi2",
                                     same=False)
        self.assertEqual(sorted(re.search(r"SLURM_PROCID=(\d)", e).group(1) for e in errors), ["0", "1", "2"])
        self.assertEqual(sorted(re.search(r"rank 0, (n\d)\)$", e).group(1) for e in errors), ["n1", "n1", "n2"])
        print(f"\n  {errors[0]}")

    def test_srun_pmix_runs_singletons(self):
        self.check_singletons("pmix")

    def test_srun_without_mpi_plugin_runs_singletons(self):
        self.check_singletons("none")


# ---------------------------------------------------------------------------------------------
# A binary started by another MPI's launcher
# ---------------------------------------------------------------------------------------------
class WrongLauncherOpenMpi(LauncherCase):
    def test_open_mpi_binary_under_hydra(self):
        hydra = program("mpiexec.hydra", "mpiexec.mpich")
        p = timed("Open MPI binary under mpiexec.hydra -n 3: singletons reported", run([hydra, "-n", "3", PROBE]))
        self.assertNotEqual(p.returncode, 0, str(p))
        errors = self.check_all_fail(p, 3, "MPI sees a world of 1 process but PMI_SIZE=3", "every process is a singleton",
                                     "launcher (hydra)", "built with Open MPI", same=False)
        self.assertEqual(sorted(re.search(r"PMI_RANK=(\d)", e).group(1) for e in errors), ["0", "1", "2"])


class WrongLauncherMpich(LauncherCase):
    def test_mpich_binary_under_open_mpi(self):
        mpirun = program("mpirun.openmpi", "mpiexec.openmpi")
        p = timed("MPICH binary under Open MPI's mpirun -np 3: singletons reported",
                  run([mpirun, "--oversubscribe", "-np", "3", PROBE],
                      env=clean_env(OMPI_MCA_orte_abort_on_non_zero_status="0")))
        errors = self.check_all_fail(p, 3, "MPI sees a world of 1 process but OMPI_COMM_WORLD_SIZE=3",
                                     "every process is a singleton", "launcher (openmpi)", "built with MPICH",
                                     same=False)
        self.assertEqual(sorted(re.search(r"OMPI_COMM_WORLD_RANK=(\d)", e).group(1) for e in errors), ["0", "1", "2"])


def tearDownModule():
    shutil.rmtree(RUN_TMP, True)
    if TIMINGS:
        print("\nTIMINGS (s)")
        for name, s in TIMINGS:
            print(f"  {s:6.2f}  {name}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_term)
    unittest.main()
