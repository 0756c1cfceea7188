"""`mpinit exec` under the real mpirun: torchrun's variables, the rendezvous agreed over MPI,
binding kept across exec, arguments untouched, and a real PyTorch (gloo) world built from them."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_launch import TOOL, BUILD, FLAVOUR, clean_env, mpirun, run, nothing_left  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_SCRIPT = os.path.join(HERE, "torch_allreduce.py")
PYTHON = "/usr/bin/python3"  # Debian's python3-torch is installed for the system Python
SHOW = ["/bin/sh", "-c", 'echo "$RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $NODE_RANK $GROUP_RANK '
        '$GROUP_WORLD_SIZE $MASTER_ADDR $MASTER_PORT $MPINIT_SEED"']


def have_torch():
    return run(PYTHON, "-c", "import torch.distributed").returncode == 0


def ranges(cpus):
    """[0, 1, 2, 5] -> "0-2,5", as mpinit prints CPU sets."""
    out, i = [], 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def exec_outputs(np, prog, tool_args=(), exec_args=(), env=None):
    """Run `mpirun -np N mpinit [tool_args] exec [exec_args] -- prog` with each rank's stdout in its own
    file (lines of several ranks can interleave on mpirun's stdout); returns (process, outputs
    by RANK)."""
    with tempfile.TemporaryDirectory() as d:
        wrapped = ["/bin/sh", "-c", f'exec "$0" "$@" > {d}/out.$RANK'] + list(prog)
        p, _ = mpirun(np, TOOL, *tool_args, "exec", *exec_args, "--", *wrapped, env=env)
        outs = []
        for r in range(np):
            try:
                with open(f"{d}/out.{r}") as f:
                    outs.append(f.read())
            except FileNotFoundError:
                outs.append(None)
        return p, outs


def stderr_by_rank(np, tool_args, env=None):
    """`mpirun -np N mpinit TOOL_ARGS` with each rank's stderr in its own file (lines of several
    ranks interleave on mpirun's stderr); returns the files' texts, by rank."""
    with tempfile.TemporaryDirectory() as d:
        cmd = ["/bin/sh", "-c", f'exec "$0" "$@" 2> {d}/err.$OMPI_COMM_WORLD_RANK', TOOL] + list(tool_args)
        mpirun(np, *cmd, env=env)
        return [open(f"{d}/err.{r}").read() for r in range(np)]


def records(out):
    return sorted((json.loads(l) for l in out.splitlines() if l.startswith("{")), key=lambda r: r["rank"])


class Exec(unittest.TestCase):
    def test_torchrun_variables_on_every_rank(self):
        for np in (1, 3):
            p, outs = exec_outputs(np, SHOW)
            self.assertEqual(p.returncode, 0, p.stderr)
            rows = [o.split() for o in outs]
            masters = set()
            for r, f in enumerate(rows):
                self.assertEqual(f[:7], [str(r), str(np), str(r), str(np), "0", "0", "1"], f)
                masters.add((f[7], f[8]))
                self.assertEqual(f[9], "1024")
            self.assertEqual(len(masters), 1, masters)  # agreed: the same everywhere
            addr, port = masters.pop()
            self.assertEqual(addr, "127.0.0.1")  # one node
            self.assertTrue(1 <= int(port) <= 65535)

    def test_explicit_rendezvous_and_flags(self):
        p, lines = exec_outputs(2, SHOW, ["--mpinit-seed=77"], ["--master-addr", "node-7", "--master-port", "29511"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for line in lines:
            self.assertEqual(line.split()[7:], ["node-7", "29511", "77"], line)

    def test_arguments_reach_the_program_untouched(self):
        args = ["a b", "$HOME", "--mpinit-seed=3", "--", "*", "", "'q'"]
        prog = [PYTHON, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))"]
        p, outs = exec_outputs(2, prog + args)
        self.assertEqual(p.returncode, 0, p.stderr)
        for out in outs:
            self.assertEqual(json.loads(out), args)

    def test_binding_survives_exec(self):
        info = json.loads(mpirun(3, TOOL, "info", "--json")[0].stdout)
        planned = {r["rank"]: r["placement"]["cpus"] for r in info}
        prog = [PYTHON, "-c", "import os; print(os.environ['RANK'], sorted(os.sched_getaffinity(0)))"]
        p, outs = exec_outputs(3, prog)
        self.assertEqual(p.returncode, 0, p.stderr)
        for line in outs:
            rank, cpus = line.strip().split(" ", 1)
            self.assertEqual(ranges(json.loads(cpus)), planned[int(rank)], line)

    def test_gpu_order_puts_the_planned_gpu_at_local_rank(self):
        # Planned on a real GPU node's topology file: device LOCAL_RANK of the exported list must be
        # the GPU the plan chose, so a script's set_device(LOCAL_RANK) lands on it.
        topo = os.path.join(os.environ.get("TEST_TOPOLOGIES", ""), "mpibind-g4dnmetal.xml")
        if not os.path.exists(topo):
            self.skipTest("no shared topologies")
        env = clean_env(MPINIT_TOPOLOGY=topo)
        info = json.loads(mpirun(4, TOOL, "info", "--json", env=env)[0].stdout)
        planned = {r["local_rank"]: r["placement"]["gpus"][0]["physical"] for r in info}
        prog = ["/bin/sh", "-c", 'echo "$LOCAL_RANK $CUDA_VISIBLE_DEVICES"']
        p, outs = exec_outputs(4, prog, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        for line in outs:
            lr, vis = line.split()
            self.assertEqual(vis.split(",")[int(lr)], str(planned[int(lr)]), line)
            self.assertEqual(sorted(vis.split(","), key=int), [str(i) for i in range(8)], line)

    def test_a_missing_program_fails_every_rank_alike(self):
        errs = stderr_by_rank(3, ["exec", "--", "no-such-program-xyz"])
        msg = ("mpinit exec: mpinit: phase 'exec' failed on 3 of 3 ranks (ranks 0, 1, 2): "
               "the program 'no-such-program-xyz' is not in PATH")
        for e in errs:
            self.assertIn(msg, e)
        self.assertEqual(nothing_left("no-such-program-xyz"), [])

    def test_bad_rendezvous_values_are_refused(self):
        for e in stderr_by_rank(2, ["exec", "--master-addr", "host;reboot", "--", "/bin/true"]):
            self.assertIn("--master-addr='host;reboot' is not an address", e)
        # MASTER_PORT in the environment is validated too (by the launcher layer), on every rank.
        for e in stderr_by_rank(2, ["exec", "--", "/bin/true"], env=clean_env(MASTER_PORT="70000")):
            self.assertIn("MASTER_PORT='70000' is too large (must be <= 65535)", e)
        p = run(TOOL, "exec", "--master-port", "70000", "--", "/bin/true")
        self.assertNotEqual(p.returncode, 0)
        p = run(TOOL, "exec")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no program", p.stderr)

    def test_env_only_from_slurm_variables(self):
        # srun --mpi=none style: no MPI; identity and rendezvous from the Slurm step alone.
        env = clean_env(SLURM_JOB_ID="77", SLURM_STEP_ID="0", SLURM_PROCID="3", SLURM_NTASKS="4",
                        SLURM_LOCALID="1", SLURM_NODEID="1", SLURM_NNODES="2", SLURM_STEP_NODELIST="n[1-2]",
                        SLURM_STEP_NUM_NODES="2", SLURM_STEP_TASKS_PER_NODE="2(x2)", MPINIT_PLACEMENT="off")
        p = run(TOOL, "exec", "--env-only", "--", *SHOW, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ["3", "4", "1", "2", "1", "1", "2", "n1", str(20000 + 77 * 64 % 20000),
                                            "1024"])

    @unittest.skipUnless(have_torch(), "python3-torch is not installed")
    def test_pytorch_world_from_mpinit_exec(self):
        for np in (1, 2, 4):
            p, outs = exec_outputs(np, [PYTHON, TORCH_SCRIPT, "x y"])
            self.assertEqual(p.returncode, 0, p.stderr)
            rs = records("".join(o or "" for o in outs))
            self.assertEqual([r["rank"] for r in rs], list(range(np)), p.stdout)
            for r in rs:
                self.assertTrue(r["ok"], r)
                self.assertEqual(r["allreduce"], np * (np + 1) / 2)
                self.assertEqual((r["rank"], r["world_size"]), (r["env_rank"], r["env_world_size"]))
                self.assertEqual(r["world_size"], np)
                self.assertEqual(r["local_rank"], r["rank"])
                self.assertEqual(r["argv"], ["x y"])
                self.assertEqual(r["seed"], "1024")
            self.assertEqual(len({r["master"] for r in rs}), 1)
            self.assertEqual(len({r["rank_seed"] for r in rs}), np)


if __name__ == "__main__":
    unittest.main()
