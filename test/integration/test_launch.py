"""Process-level tests with the real launcher: the mpinit tool, a program that owns MPI through
mpinit::launch, and the error agreement (a bad value on one rank fails every rank alike)."""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get("MPINIT_BUILD_DIR", "build")
MPIEXEC = os.environ.get("MPINIT_MPIEXEC", "mpiexec")
FLAVOUR = os.environ.get("MPINIT_MPI_FLAVOUR", "openmpi")
TOOL = os.path.join(BUILD, "tools", "mpinit")
PROBE = os.path.join(BUILD, "test", "launch_probe")
HOST = socket.gethostname()
RANK_VAR = "OMPI_COMM_WORLD_RANK" if FLAVOUR == "openmpi" else "PMI_RANK"
# Bound on every run: a hang fails the test instead of stalling the suite.
LIMIT_S = 60


def clean_env(**extra):
    """The test's environment without any launcher's per-process variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OMPI_COMM_WORLD", "PMIX_", "PMI_", "SLURM_", "MPINIT_", "MPI_LOCAL"))
           and k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    env.update(extra)
    return env


def mpirun(np, *cmd, env=None):
    args = [MPIEXEC] + (["--oversubscribe"] if FLAVOUR == "openmpi" else []) + ["-np", str(np)] + list(cmd)
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=LIMIT_S, env=env or clean_env())
    return p, time.monotonic() - t0


def run(*cmd, env=None):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=LIMIT_S, env=env or clean_env())


def on_rank(rank, assignment, prog, *args):
    """A command that sets `assignment` (VAR=value) only in the process whose launcher rank is `rank`,
    runs `prog` and prints its exit status as "EXIT <rank> <status>"."""
    script = (f'if [ "${RANK_VAR}" = "{rank}" ]; then export {assignment}; fi; '
              f'"$0" "$@"; echo "EXIT ${RANK_VAR} $?"')
    return ["/bin/sh", "-c", script, prog] + list(args)


def share_dirs():
    """What is left of mpinit's node shares (there must be nothing after a run)."""
    share = re.compile(r"^mpinit-\d+-[0-9a-f]{16}$")
    return sorted(os.path.join(base, d) for base in ("/dev/shm", "/tmp") if os.path.isdir(base)
                  for d in os.listdir(base) if share.match(d))


def nothing_left(name):
    out = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True).stdout.split()
    return [p for p in out if int(p) != os.getpid()]


class Tool(unittest.TestCase):
    def test_info_prints_every_rank_sorted(self):
        # derive_seed(1024, r): pinned, the same on every run and machine.
        seeds = json.loads(mpirun(4, TOOL, "info", "--json")[0].stdout)
        seeds = [r["rank_seed"] for r in seeds]
        for np in (1, 3, 4):
            p, _ = mpirun(np, TOOL, "info")
            self.assertEqual(p.returncode, 0, p.stderr)
            lines = p.stdout.strip().splitlines()
            self.assertEqual(len(lines), np + 1, p.stdout)
            self.assertEqual(lines[-1], "global seed 1024 (default)")
            for r, line in enumerate(lines[:-1]):
                f = line.split()
                self.assertEqual(f[0], HOST)
                self.assertEqual(f[1:3], ["rank", f"{r}/{np}"], line)
                self.assertEqual(f[3:5], ["local", f"{r}/{np}"], line)
                self.assertEqual(f[5:7], ["node", "0/1"], line)
                self.assertEqual(f[7], "gpu", line)
                self.assertEqual(f[-4], "cpus", line)
                self.assertEqual(f[-2:], ["seed", str(seeds[r])], line)
        p, _ = mpirun(2, TOOL, "info", "--sources")
        self.assertEqual(p.returncode, 0, p.stderr)
        for line in p.stdout.strip().splitlines()[:-1]:
            self.assertIn("rank:MPI_Comm_rank", line)
            self.assertIn("launcher " + FLAVOUR, line)

    def test_info_json_one_record_per_rank(self):
        p, _ = mpirun(3, TOOL, "info", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        records = json.loads(p.stdout)
        self.assertEqual([r["rank"] for r in records], [0, 1, 2])
        for r in records:
            self.assertEqual(r["world_size"], 3)
            self.assertEqual(r["local_size"], 3)
            self.assertEqual(r["local_rank"], r["rank"])
            self.assertEqual((r["node_rank"], r["node_count"]), (0, 1))
            self.assertEqual(r["host"], HOST)
            self.assertTrue(r["from_mpi"])
            self.assertEqual(r["sources"]["world_size"], "MPI_Comm_size")
            self.assertEqual(r["topology"]["discovered_here"], r["local_rank"] == 0)
            self.assertTrue(r["placement"]["cpus"])
            self.assertIn("bound to CPUs " + r["placement"]["cpus"], r["placement"]["applied"])
            if FLAVOUR == "openmpi":
                self.assertEqual(r["launcher"], "openmpi")
            self.assertEqual((r["global_seed"], r["global_seed_source"]), (1024, "default"))
            # The plain names: identity, placement and seeds at the top level.
            for key in ("rank", "world_size", "local_rank", "local_size", "node_rank", "node_count", "host", "gpu",
                        "gpu_busid", "nic", "cpus", "global_seed", "rank_seed"):
                self.assertIn(key, r)
            self.assertEqual(r["cpus"], r["placement"]["cpus"])
        self.assertEqual(records[0]["rank_seed"], 0xad20b0beaf102696)  # derive_seed(1024, 0)
        self.assertEqual(len({r["rank_seed"] for r in records}), 3)

    def test_info_seeds_follow_mpinit_seed_and_random_is_agreed(self):
        p, _ = mpirun(3, TOOL, "info", "--json", env=clean_env(MPINIT_SEED="7"))
        self.assertEqual(p.returncode, 0, p.stderr)
        a = json.loads(p.stdout)
        p, _ = mpirun(3, TOOL, "info", "--json", env=clean_env(MPINIT_SEED="7"))
        b = json.loads(p.stdout)
        self.assertEqual([r["rank_seed"] for r in a], [r["rank_seed"] for r in b])  # reproducible
        self.assertEqual({r["global_seed"] for r in a}, {7})
        self.assertEqual(a[0]["global_seed_source"], "MPINIT_SEED of rank 0")
        p, _ = mpirun(3, TOOL, "info", "--json", env=clean_env(MPINIT_SEED="random", MPINIT_LOG_LEVEL="info"))
        self.assertEqual(p.returncode, 0, p.stderr)
        c = json.loads(p.stdout)
        self.assertEqual(len({r["global_seed"] for r in c}), 1)
        self.assertEqual(c[0]["global_seed_source"], "random (drawn by rank 0)")
        # Logged (rank 0, INFO) so that the run can be reproduced.
        self.assertIn(f"MPINIT_SEED={c[0]['global_seed']} reproduces it", p.stderr)

    def test_info_env_only_uses_launcher_variables(self):
        if FLAVOUR != "openmpi":
            self.skipTest("checks Open MPI's variable names")
        p, _ = mpirun(2, TOOL, "info", "--env-only", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        records = sorted((json.loads(l) for l in p.stdout.splitlines()), key=lambda r: r["rank"])
        self.assertEqual([r["rank"] for r in records], [0, 1])
        for r in records:
            self.assertFalse(r["from_mpi"])
            self.assertEqual(r["sources"]["rank"], "OMPI_COMM_WORLD_RANK")
            self.assertEqual(r["sources"]["local_size"], "OMPI_COMM_WORLD_LOCAL_SIZE")

    def test_info_env_only_places_and_binds_before_mpi(self):
        if FLAVOUR != "openmpi":
            self.skipTest("checks Open MPI's variable names")
        for n in (2, 3):
            p, _ = mpirun(n, TOOL, "info", "--env-only", "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            records = sorted((json.loads(l) for l in p.stdout.splitlines()), key=lambda r: r["rank"])
            self.assertEqual(len(records), n)
            for r in records:
                self.assertFalse(r["from_mpi"])
                self.assertIn("bound to CPUs " + r["placement"]["cpus"], r["placement"]["applied"])
            # No MPI, and still one discovery per node: local rank 0 shares it with the others.
            self.assertEqual([r["topology"]["discovered_here"] for r in records], [True] + [False] * (n - 1))
            self.assertEqual([r["topology"]["origin"] for r in records][1:], ["imported from the local leader"] * (n - 1))
            self.assertEqual(share_dirs(), [])

    def test_env_under_mpirun_on_every_rank(self):
        with tempfile.TemporaryDirectory() as d:
            cmd = ["/bin/sh", "-c", f'exec "$0" env --json > {d}/env.${RANK_VAR}', TOOL]
            p, _ = mpirun(3, *cmd)
            self.assertEqual(p.returncode, 0, p.stderr)
            for r in range(3):
                with open(f"{d}/env.{r}") as f:
                    e = json.load(f)
                self.assertEqual(e["rank"]["value"], r)
                self.assertEqual(e["world_size"]["value"], 3)
                self.assertEqual(e["rank"]["source"], RANK_VAR)

    def test_env_without_launcher(self):
        p = run(TOOL, "env", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        e = json.loads(p.stdout)
        self.assertEqual(e["launcher"], "none")
        self.assertIsNone(e["rank"])

    def test_env_slurm_step_table(self):
        env = clean_env(SLURM_STEP_ID="0", SLURM_PROCID="4", SLURM_NTASKS="5", SLURM_LOCALID="0",
                        SLURM_NODEID="2", SLURM_NNODES="3", SLURM_STEP_NODELIST="rack[1-2]-n[1-2]",
                        SLURM_STEP_NUM_NODES="3", SLURM_STEP_TASKS_PER_NODE="2(x2),1")
        p = run(TOOL, "env", env=env)
        # 4 hosts listed for a 3-node step: the step's list must match its node count.
        self.assertEqual(p.returncode, 2)
        self.assertIn("SLURM_STEP_NODELIST='rack[1-2]-n[1-2]' lists 4 hosts", p.stderr)
        env["SLURM_STEP_NODELIST"] = "rack1-n[1-2],rack2-n1"
        p = run(TOOL, "env", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("rack1-n1,rack1-n2,rack2-n1", p.stdout)
        self.assertRegex(p.stdout, r"local_size\s+1\s+SLURM_STEP_TASKS_PER_NODE")

    def test_env_bad_value_names_it(self):
        p = run(TOOL, "env", env=clean_env(OMPI_COMM_WORLD_RANK="9x", OMPI_COMM_WORLD_SIZE="4"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("OMPI_COMM_WORLD_RANK='9x' is not an integer", p.stderr)

    def test_help_for_each_command(self):
        expect = {"": "exec", "env": "--json", "info": "--settings", "plan": "--annotate", "exec": "--master-port",
                  "check": "--expect-nodes"}
        for sub, word in expect.items():
            p = run(TOOL, *([sub] if sub else []), "--help")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(word, p.stdout, sub)

    def test_plan_annotated_for_lstopo(self):
        topo = os.path.join(os.environ.get("TEST_TOPOLOGIES", ""), "mpibind-eas-tioga.xml")
        if not os.path.exists(topo):
            self.skipTest("no shared topologies")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "tioga-plan.xml")
            p = run(TOOL, "plan", "--topology", topo, "--ranks", "8", "--annotate", out)
            self.assertEqual(p.returncode, 0, p.stderr)
            drawn = run("lstopo-no-graphics", "-i", out)
            self.assertEqual(drawn.returncode, 0, drawn.stderr)
        text = drawn.stdout
        # Each rank: a box inside its L3 with its CPUs, GCD and NIC, and a box under its GCD and NIC.
        self.assertIn("Misc rank 0: cpus 0-7,64-71 rsmi4 hsi2", text)
        self.assertIn("Misc rank 7: cpus 56-63,120-127 rsmi1 hsi0", text)
        for r in range(8):
            self.assertEqual(text.count(f"Misc rank {r}\n"), 2, r)

    def test_plan_json_shows_each_nic_port_and_takes_the_active_one(self):
        topo = os.path.join(os.environ.get("TEST_TOPOLOGIES", ""), "fluxcore-ipa20.xml")
        if not os.path.exists(topo):
            self.skipTest("no shared topologies")
        p = run(TOOL, "plan", "--topology", topo, "--ranks", "4", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        nics = {n["name"]: (n["up"], n["port"]) for n in j["nics"]}
        # The XE8640 file: mlx5_0's port 1 ACTIVE, the other three DOWN; Ethernet reports no port.
        self.assertEqual(nics, {"mlx5_0": (True, 1), "mlx5_1": (False, 1), "mlx5_2": (False, 1),
                                "mlx5_3": (False, 1), "eno8303": (True, None), "eno8403": (True, None)})
        self.assertEqual([r["nic"] for r in j["ranks"]], ["mlx5_0"] * 4)
        self.assertIn("mlx5_2, mlx5_1, mlx5_3 have no ACTIVE port", " ".join(j["notes"]))
        text = run(TOOL, "plan", "--topology", topo, "--ranks", "4")
        self.assertRegex(text.stdout, r"local   3  gpu cuda2\(2\)\s+nic mlx5_0 ")
        self.assertIn("note: NIC(s) mlx5_2, mlx5_1, mlx5_3 have no ACTIVE port", text.stdout)

    def test_check_is_healthy_here_and_fails_on_a_wrong_expectation(self):
        p, _ = mpirun(3, TOOL, "check", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertTrue(j["healthy"])
        status = {c["name"]: c["status"] for c in j["checks"]}
        self.assertEqual(status["identity"], "ok")
        self.assertEqual(status["mpi_allreduce"], "ok")
        self.assertIn(status["nccl_allreduce"], ("skipped", "ok"))
        cmd = on_rank(0, "X=1", TOOL, "check", "--expect-nodes", "2")
        p, _ = mpirun(2, *cmd)
        self.assertIn("identity         failed   rank 0: 1 node(s), expected 2", p.stdout)
        self.assertIn("NOT healthy", p.stdout)
        self.assertEqual(sorted(l for l in p.stdout.splitlines() if l.startswith("EXIT")), ["EXIT 0 1", "EXIT 1 1"])

    def test_settings_flags_and_their_sources(self):
        p, _ = mpirun(2, TOOL, "--mpinit-seed", "9", "info", "--settings", "--json",
                      env=clean_env(MPINIT_SEED="5", MPINIT_LOG_LEVEL="error"))
        self.assertEqual(p.returncode, 0, p.stderr)
        for r in json.loads(p.stdout):
            self.assertEqual(r["global_seed"], 9)
            self.assertEqual(r["settings"]["seed"], {"value": "9", "source": "--mpinit-seed"})
            self.assertEqual(r["settings"]["log_level"], {"value": "error", "source": "MPINIT_LOG_LEVEL"})
            self.assertEqual(r["settings"]["bind"]["source"], "default")
        p = run(TOOL, "--mpinit-gpu-policy=roundrobin", "info", "--env-only")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--mpinit-gpu-policy='roundrobin' is not one of spread|exclusive|split|none", p.stderr)
        p = run(TOOL, "info", "--mpinit-seed")
        self.assertEqual(p.returncode, 2)
        self.assertIn("the flag --mpinit-seed needs a value", p.stderr)


class OwnedLaunch(unittest.TestCase):
    def test_probe_owns_mpi_at_several_rank_counts(self):
        for np in (1, 2, 3):
            p, _ = mpirun(np, PROBE)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            lines = sorted(p.stdout.splitlines())
            self.assertEqual(len(lines), np)
            for line in lines:
                self.assertTrue(line.startswith("OK "), line)
                self.assertIn(f"size={np} ", line)
                self.assertIn("owns=1", line)

    def test_singleton_without_launcher(self):
        p = run(PROBE)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("OK rank=0 size=1 local_rank=0 local_size=1 node_rank=0 node_count=1", p.stdout)


class ErrorAgreement(unittest.TestCase):
    def check_all_fail_alike(self, p, seconds, np, *parts):
        statuses = [l.split()[2] for l in p.stdout.splitlines() if l.startswith("EXIT ")]
        self.assertEqual(statuses, ["3"] * np, p.stdout + p.stderr)
        errors = [l for l in p.stdout.splitlines() if l.startswith("ERROR ")]
        self.assertEqual(len(errors), np, p.stdout + p.stderr)
        self.assertEqual(len(set(errors)), 1, "messages differ:\n" + "\n".join(errors))
        for part in parts:
            self.assertIn(part, errors[0])
        self.assertIn(HOST, errors[0])
        self.assertLess(seconds, LIMIT_S)
        self.assertEqual(nothing_left(PROBE), [])
        return errors[0]

    def test_bad_setting_on_one_rank(self):
        p, s = mpirun(4, *on_rank(2, "MPINIT_LOG_LEVEL=loud", PROBE))
        msg = self.check_all_fail_alike(p, s, 4, "phase 'settings' failed on 1 of 4 ranks (rank 2)",
                                        "MPINIT_LOG_LEVEL='loud' is not one of none|error|warn|info|debug|trace",
                                        "raised by mpinit::launch on rank 2")
        print(f"\n  4 ranks, bad setting on rank 2: {s:.2f} s\n  {msg}")

    def test_bad_launcher_variable_on_one_rank(self):
        if FLAVOUR != "openmpi":
            self.skipTest("corrupts an Open MPI variable")
        p, s = mpirun(3, *on_rank(1, "OMPI_COMM_WORLD_LOCAL_SIZE=abc", PROBE))
        self.check_all_fail_alike(p, s, 3, "phase 'environment' failed on 1 of 3 ranks (rank 1)",
                                  "OMPI_COMM_WORLD_LOCAL_SIZE='abc' is not an integer")

    def test_more_ranks_than_cores_with_oversubscription_off(self):
        cores = json.loads(run(TOOL, "plan", "--json").stdout)["cores"]
        np = cores + 1
        p, s = mpirun(np, *on_rank(-1, "X=1", PROBE), env=clean_env(MPINIT_OVERSUBSCRIBE="off"))
        self.check_all_fail_alike(p, s, np, "phase 'placement' failed on",
                                  f"{np} local ranks but the CPUs this process may use",
                                  "MPINIT_OVERSUBSCRIBE=off forbids sharing them")

    def test_launcher_disagreeing_with_mpi(self):
        if FLAVOUR != "openmpi":
            self.skipTest("corrupts an Open MPI variable")
        # Rank 0 is told it is rank 1: valid on its own, contradicted by MPI.
        p, s = mpirun(2, *on_rank(0, "OMPI_COMM_WORLD_RANK=1", PROBE))
        self.check_all_fail_alike(p, s, 2, "phase 'identity'", "OMPI_COMM_WORLD_RANK=1 but MPI_Comm_rank=0",
                                  "MPINIT_CHECK=warn")


# System calls that create, change or remove a file (an open counts when it may write).
WRITE_CALLS = ("open", "openat", "creat", "mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink",
               "unlinkat", "link", "linkat", "symlink", "symlinkat", "truncate")
# What the MPI libraries and launchers themselves write; anything else is mpinit's.
MPI_OWN = [
    r"^/dev/shm/(open_mpi\.|vader_segment\.)",          # Open MPI's shared-memory segments
    r"^/dev/shm/(mpich_shar_tmp|ucx_shm_posix_)",         # MPICH's and UCX's
    r"^{tmp}/ompi\.",                                     # Open MPI's session directory
    r"^/dev/(ptmx|null|tty)$",                            # the launchers' I/O forwarding
    r"^/proc/self/task/\d+/comm$",                        # thread names (pthread_setname_np)
    r"^/proc/\d+/fd/\d+$",                                # MPICH reopening a shared-memory fd
]


class FilesWritten(unittest.TestCase):
    """mpinit writes only inside its node share: before MPI_Init the node's leader hands the
    topology to the other local ranks through a private directory, /dev/shm/mpinit-<uid>-<key hash>
    (mode 0700), removed once they have it. Every file system call of the launcher, every rank and
    what they start is traced (strace -f); only the MPI library's own files and that directory may
    appear, and the directory is gone afterwards."""

    def written(self, np, *cmd):
        if not shutil.which("strace"):
            self.skipTest("strace is not installed (scripts/install-deps.sh installs it)")
        d = tempfile.mkdtemp(prefix="mpinit-strace-")
        self.addCleanup(shutil.rmtree, d, True)
        tmp = os.path.join(d, "tmp")
        os.mkdir(tmp)
        args = [MPIEXEC] + (["--oversubscribe"] if FLAVOUR == "openmpi" else []) + ["-np", str(np), *cmd]
        p = subprocess.run(["strace", "-f", "-ff", "-qq", "-s", "4096", "-e", "trace=execve," + ",".join(WRITE_CALLS),
                            "-o", os.path.join(d, "trace"), *args],
                           capture_output=True, text=True, timeout=LIMIT_S, env=clean_env(TMPDIR=tmp))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        allowed = [re.compile(a.format(tmp=re.escape(tmp))) for a in MPI_OWN]
        share = re.compile(r"^/dev/shm/mpinit-%d-[0-9a-f]{16}(/[a-z0-9._]+)?$" % os.geteuid())
        call = re.compile(r'^(\w+)\((?:AT_FDCWD, |\d+, )?"([^"]*)"(.*)\) += (-?\d+)')
        ranks, mpi_own, shared, ours = 0, 0, 0, []
        for f in glob.glob(os.path.join(d, "trace.*")):
            with open(f) as t:
                for line in t:
                    m = call.match(line)
                    if not m or int(m.group(4)) < 0:
                        continue  # failed calls write nothing
                    name, path, rest = m.group(1), m.group(2), m.group(3)
                    if name == "execve":
                        ranks += path == cmd[0]
                        continue
                    if name in ("open", "openat") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", rest):
                        continue
                    if any(a.search(path) for a in allowed):
                        mpi_own += 1
                    elif share.match(path):
                        shared += 1
                    else:
                        ours.append(line.strip())
        self.assertEqual(ranks, np, "the trace must see every rank start")
        self.assertGreater(mpi_own, 0, "the trace must see the MPI library's own files")
        if np > 1:
            self.assertGreater(shared, 0, "the trace must see the node share")
        self.assertEqual(share_dirs(), [])
        return ours, p

    def test_launch_and_placement_write_no_file(self):
        ours, p = self.written(3, TOOL, "info")
        self.assertEqual(ours, [], p.stdout + p.stderr)

    def test_exec_writes_no_file(self):
        ours, p = self.written(2, TOOL, "exec", "--", "/bin/true")
        self.assertEqual(ours, [], p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
