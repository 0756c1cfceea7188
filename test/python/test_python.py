"""The Python package (docs/python.md) under the real mpirun at 1, 2 and 4 ranks and as a
singleton, with Debian's mpi4py and PyTorch: identity, plan and seeds equal to what
`mpinit info --json` says for the same layout; mpi4py's world and a split communicator adopted
(and mpi4py still working after close()); mpinit.torch with gloo; a bad setting on one rank
failing every rank alike; an uncaught exception on one rank ending the job. Every run has a time
limit, and nothing may be left behind (processes, node shares in /dev/shm or /tmp)."""
import json
import os
import shutil
import subprocess
import tempfile
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from test_launch import BUILD, TOOL, HOST, mpirun, clean_env, nothing_left  # noqa: E402

PYTHON = os.environ.get("MPINIT_PYTHON", "/usr/bin/python3")
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
PKG = os.path.join(BUILD, "python")


SHARE = None  # this test's own MPINIT_SHARE_DIR (/dev/shm is shared with whatever else runs)


def env(**extra):
    return clean_env(PYTHONPATH=PKG, **({"MPINIT_SHARE_DIR": SHARE} if SHARE else {}), **extra)


def parse(out):
    oks, errors = [], []
    for line in out.splitlines():
        if line.startswith("OK {"):
            oks.append(json.loads(line[3:]))
        elif line.startswith("ERROR "):
            errors.append(line[6:])
    return sorted(oks, key=lambda r: r["rank"]), errors


def have(module):
    return subprocess.run([PYTHON, "-c", f"import {module}"], capture_output=True).returncode == 0


class Case(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        global SHARE
        SHARE = tempfile.mkdtemp(prefix="mpinit-python-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self.addCleanup(shutil.rmtree, SHARE, True)

    def tearDown(self):
        self.assertEqual(os.listdir(SHARE), [], "node shares left behind")
        self.assertEqual(nothing_left(WORKER), [], "worker processes left behind")

    def run_np(self, np, *args, expect_ok=True, **variables):
        """The worker under mpirun; the result's stdout holds what every rank wrote to its file."""
        probe = tempfile.mkdtemp(prefix="mpinit-python-probe-")
        self.addCleanup(shutil.rmtree, probe, True)
        p, seconds = mpirun(np, PYTHON, WORKER, *args, env=env(LAUNCHER_PROBE_DIR=probe, **variables))
        if expect_ok:
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        text = ""
        for name in sorted(os.listdir(probe)):
            with open(os.path.join(probe, name)) as f:
                text += f.read()
        p.stdout = text + p.stdout
        return p, seconds


class Identity(Case):
    def test_identity_plan_and_seeds_match_the_tool(self):
        for np in (1, 2, 4):
            with self.subTest(np=np):
                info = json.loads(mpirun(np, TOOL, "info", "--json", env=env(MPINIT_SEED="7"))[0].stdout)
                p, _ = self.run_np(np, "identity", "--kw", "seed=7")
                recs, errors = parse(p.stdout)
                self.assertEqual(errors, [])
                self.assertEqual(len(recs), np, p.stdout)
                for r, want in zip(recs, info):
                    got = {k: r[k] for k in ("rank", "local_rank", "local_size", "node_rank", "node_count", "host",
                                             "launcher", "gpu", "gpu_busid", "nic", "cpus", "global_seed", "rank_seed")}
                    self.assertEqual(got, {**{k: want[k] for k in got if k in want}, "rank": want["rank"]})
                    self.assertEqual(r["size"], want["world_size"])
                    self.assertEqual(r["host"], HOST)
                    self.assertEqual(r["sources"]["rank"], "MPI_Comm_rank")
                    self.assertEqual(r["global_seed_source"], "mpinit.launch() keyword seed of rank 0")
                    self.assertNotEqual(r["seed_data"], r["rank_seed"])
                    self.assertTrue(r["owns_mpi"])
                    self.assertTrue(r["comm_none"])  # no mpi4py imported: no mpi4py communicator
                    self.assertTrue(r["current"])
                    self.assertEqual(r["affinity"], sorted(_cpus(r["cpus"])))  # bound as planned
                    for key in ("gpu", "gpu_busid", "nic", "cpus", "numa", "reason"):
                        self.assertIn(key, r["plan_keys"])
                self.assertEqual(p.stdout.count("CLOSED True True"), np)

    def test_precedence_keyword_over_flag_over_variable(self):
        p, _ = self.run_np(2, "identity", "a", "--mpinit-seed=5", "b", "--kw", "seed=9", MPINIT_SEED="3")
        recs, _ = parse(p.stdout)
        self.assertEqual([(r["global_seed"], r["global_seed_source"]) for r in recs],
                         [(9, "mpinit.launch() keyword seed of rank 0")] * 2)
        self.assertEqual(recs[0]["argv"], ["a", "b"])  # the flag was taken out of sys.argv
        p, _ = self.run_np(2, "identity", "a", "--mpinit-seed", "5", MPINIT_SEED="3")
        recs, _ = parse(p.stdout)
        self.assertEqual([(r["global_seed"], r["global_seed_source"]) for r in recs], [(5, "--mpinit-seed of rank 0")] * 2)
        self.assertEqual(recs[1]["argv"], ["a"])
        p, _ = self.run_np(2, "identity", MPINIT_SEED="3")
        recs, _ = parse(p.stdout)
        self.assertEqual([(r["global_seed"], r["global_seed_source"]) for r in recs], [(3, "MPINIT_SEED of rank 0")] * 2)
        # Keywords of other types: an enum and an on/off switch.
        p, _ = self.run_np(2, "identity", "--kw", "gpu_policy=split", "--kw", "bind=off")
        recs, _ = parse(p.stdout)
        self.assertEqual(recs[0]["settings"]["gpu_policy"], ["split", "mpinit.launch() keyword gpu_policy"])
        self.assertEqual(recs[0]["settings"]["bind"], ["off", "mpinit.launch() keyword bind"])

    def test_singleton_without_a_launcher(self):
        for what in ("singleton", "singleton-mpi4py") if have("mpi4py") else ("singleton",):
            with self.subTest(what=what):
                p = subprocess.run([PYTHON, WORKER, what], capture_output=True, text=True, timeout=60, env=env())
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                (r,), errors = parse(p.stdout)
                self.assertEqual(errors, [])
                self.assertEqual((r["rank"], r["size"], r["local_rank"], r["local_size"], r["node_count"]),
                                 (0, 1, 0, 1, 1))
                self.assertEqual(r["host"], HOST)
                self.assertEqual(r["owns_mpi"], what == "singleton")
                self.assertEqual(r["comm_none"], what == "singleton")
                self.assertEqual(r["global_seed"], 1)
        p = subprocess.run([PYTHON, "-c", "import mpinit; print(mpinit.launch().rank, mpinit.settings()[-1])"],
                           capture_output=True, text=True, timeout=60, env=env())
        self.assertEqual((p.returncode, p.stdout), (0, "0 launch_timeout_s\n"), p.stderr)


@unittest.skipUnless(have("mpi4py"), "python3-mpi4py is not installed (scripts/install-deps.sh)")
class Mpi4py(Case):
    def test_adopts_the_world(self):
        for np in (1, 2, 4):
            with self.subTest(np=np):
                p, _ = self.run_np(np, "mpi4py-world")
                recs, _ = parse(p.stdout)
                self.assertEqual([r["rank"] for r in recs], list(range(np)))
                for r in recs:
                    self.assertEqual((r["size"], r["owns_mpi"], r["congruent"]), (np, False, True))
                    self.assertEqual((r["after_close"], r["finalized"], r["comm_after_close"]), (np, False, True))
                    self.assertEqual(r["total"], np * (np - 1) // 2)

    def test_split_communicator_identity_is_relative_to_it(self):
        for np in (2, 4):
            with self.subTest(np=np):
                p, _ = self.run_np(np, "mpi4py")
                recs = parse(p.stdout)[0]
                self.assertEqual(len(recs), np, p.stdout)
                for r in recs:
                    w = r["world_rank"]
                    members = [x for x in range(np) if x % 2 == w % 2]
                    self.assertEqual(r["size"], len(members))
                    self.assertEqual(r["rank"], r["sub_rank"])
                    self.assertEqual(r["rank"], sorted(members, reverse=True).index(w))  # key = -world rank
                    self.assertEqual((r["local_size"], r["node_count"]), (len(members), 1))
                    self.assertTrue(r["congruent"])  # the session's duplicate of the split, not the world
                    self.assertEqual(r["after_close"], np)
                    self.assertFalse(r["finalized"])
                    self.assertEqual(r["global_seed"], 11)


class Errors(Case):
    def check_same_everywhere(self, p, np, *parts):
        recs, errors = parse(p.stdout)
        self.assertEqual(recs, [], p.stdout)
        self.assertEqual(len(errors), np, p.stdout + p.stderr)
        self.assertEqual(len(set(errors)), 1, "messages differ:\n" + "\n".join(errors))
        for part in parts:
            self.assertIn(part, errors[0])

    def test_a_bad_value_on_one_rank_fails_every_rank_alike(self):
        for what in ("bad", "bad-mpi4py") if have("mpi4py") else ("bad",):
            with self.subTest(what=what):
                p, seconds = self.run_np(3, what, "1", "value")
                self.check_same_everywhere(p, 3, "invalid_setting|settings|", "mpinit.launch() keyword seed='bogus'",
                                           "(rank 1)")
                self.assertLess(seconds, 30)
                if what == "bad-mpi4py":
                    self.assertEqual(p.stdout.count("AFTER 3"), 3)  # mpi4py's MPI is still up

    def test_an_unknown_keyword_on_one_rank_fails_every_rank_alike(self):
        p, _ = self.run_np(2, "bad", "0", "unknown")
        self.check_same_everywhere(p, 2, "invalid_setting|settings|", "no setting 'gpu_polcy'", "gpu_policy",
                                   "(rank 0)")

    def test_bad_comm_is_an_error(self):
        code = ("import mpinit\ntry:\n    mpinit.launch(comm=42)\nexcept mpinit.Error as e:\n"
                "    print(e.code, e)\n")
        p = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60, env=env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("invalid_setting mpinit.launch(comm=...) takes an mpi4py communicator", p.stdout)

    def test_an_uncaught_exception_on_one_rank_ends_the_job(self):
        p, seconds = self.run_np(3, "uncaught", expect_ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("rank 1 gives up", p.stderr)
        self.assertNotIn("NOT REACHED", p.stdout)
        self.assertLess(seconds, 30)


@unittest.skipUnless(have("torch"), "python3-torch is not installed (scripts/install-deps.sh)")
class Torch(Case):
    def test_gloo_process_group(self):
        for np in (1, 2, 4):
            with self.subTest(np=np):
                p, _ = self.run_np(np, "torch")
                recs, errors = parse(p.stdout)
                self.assertEqual(errors, [])
                self.assertEqual(len(recs), np, p.stdout + p.stderr)
                ports = {r["env"]["MASTER_PORT"] for r in recs}
                self.assertEqual(len(ports), 1)
                for r in recs:
                    self.assertEqual(r["backend"], "gloo")
                    self.assertEqual((r["torch_rank"], r["torch_size"]), (r["rank"], np))
                    self.assertEqual(r["allreduce"], np * (np + 1) / 2)
                    self.assertEqual(r["gathered"], [{"rank": k, "host": HOST} for k in range(np)])
                    self.assertEqual(r["env"], {
                        "RANK": str(r["rank"]), "WORLD_SIZE": str(np), "LOCAL_RANK": str(r["local_rank"]),
                        "LOCAL_WORLD_SIZE": str(np), "NODE_RANK": "0", "GROUP_RANK": "0", "GROUP_WORLD_SIZE": "1",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": r["env"]["MASTER_PORT"]})
                    self.assertEqual(r["helpers"], [r["rank"], np, r["local_rank"], np, 0])
                    self.assertEqual(r["global_seed"], 5)


def _cpus(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


if __name__ == "__main__":
    unittest.main()
