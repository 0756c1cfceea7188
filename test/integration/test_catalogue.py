"""The bad-input catalogue: every case starts the real mpirun with one bad input (on one rank or
on all), and asserts that every rank exits non-zero with the same message naming the input and
the rule, within 10 s, and that nothing is left running. docs/bad-input.md lists the cases; its
table is generated from CASES (`python3 test_catalogue.py --markdown`)."""
import atexit
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_launch import PROBE, FLAVOUR, HOST, clean_env, nothing_left  # noqa: E402
from test_launch import MPIEXEC  # noqa: E402

TOPO = os.environ.get("TEST_TOPOLOGIES", "")
LASSEN = os.path.join(TOPO, "mpibind-coral-lassen.xml")  # 4 NVIDIA GPUs
TIOGA = os.path.join(TOPO, "mpibind-eas-tioga.xml")      # 8 AMD GCDs
BUDGET_S = 10
SCRATCH = tempfile.mkdtemp(prefix="mpinit-catalogue-")
atexit.register(shutil.rmtree, SCRATCH, True)


def scratch_file(name, text):
    path = os.path.join(SCRATCH, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def truncated_lassen():
    with open(LASSEN) as f:
        return scratch_file("truncated.xml", f.read()[:3000])


# Open MPI's per-process variables, replaced by another launcher's in the "as" cases.
OMPI_VARS = "OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_LOCAL_RANK OMPI_COMM_WORLD_LOCAL_SIZE " \
            "OMPI_COMM_WORLD_NODE_RANK"
# The process as a Slurm step task would see itself (values from Open MPI's, so they agree with MPI).
AS_SLURM = ("export SLURM_JOB_ID=7 SLURM_STEP_ID=0 SLURM_PROCID=$OMPI_COMM_WORLD_RANK "
            "SLURM_NTASKS=$OMPI_COMM_WORLD_SIZE SLURM_LOCALID=$OMPI_COMM_WORLD_LOCAL_RANK SLURM_NODEID=0 "
            "SLURM_NNODES=1 SLURM_STEP_NUM_NODES=1 SLURM_STEP_NODELIST=$(hostname) "
            "SLURM_STEP_TASKS_PER_NODE=$OMPI_COMM_WORLD_SIZE; unset " + OMPI_VARS)


class Case:
    def __init__(self, name, group, expect, np=2, env=None, one=None, rank=0, prelude=None, needs=None,
                 agreed=True):
        self.name, self.group, self.expect, self.np = name, group, expect, np
        self.agreed = agreed      # False: no MPI to agree over, each rank names itself
        self.env = env or {}      # for every rank
        self.one = one or {}      # for `rank` only
        self.rank = rank
        self.prelude = prelude    # shell run in every rank before the program (another launcher's view)
        self.needs = needs        # a file that must exist

    def input_text(self):
        def shown(v):
            v = v.replace(SCRATCH, "<tmp>") if SCRATCH else v
            return v.replace(TOPO, "<topologies>") if TOPO else v
        parts = [f"{k.replace('LATE_', '')}={shown(v)!r}" for k, v in {**self.env, **self.one}.items()]
        where = f" on rank {self.rank}" if self.one else ""
        text = ", ".join(parts) + where + (" (as " + self.prelude[1] + ")" if self.prelude else "")
        return text.replace("@truncated", "<tmp>/truncated.xml (the first 3000 bytes of Lassen's)").replace("|", "\\|")


SLURM = (AS_SLURM, "a Slurm step")
CASES = [
    # ---- launcher environment (Open MPI's own variables, corrupted on one rank) ----
    Case("ompi_rank_not_a_number", "environment", ["OMPI_COMM_WORLD_RANK='one' is not an integer"],
         one={"OMPI_COMM_WORLD_RANK": "one"}),
    Case("ompi_rank_negative", "environment", ["OMPI_COMM_WORLD_RANK='-1'", "negative"],
         one={"OMPI_COMM_WORLD_RANK": "-1"}),
    Case("ompi_rank_overflow", "environment", ["OMPI_COMM_WORLD_RANK='99999999999999999999'"],
         one={"OMPI_COMM_WORLD_RANK": "99999999999999999999"}),
    Case("ompi_rank_fraction", "environment", ["OMPI_COMM_WORLD_RANK='1.5' is not an integer"],
         one={"OMPI_COMM_WORLD_RANK": "1.5"}, rank=1),
    Case("ompi_rank_empty", "environment", ["OMPI_COMM_WORLD_RANK=''"], one={"OMPI_COMM_WORLD_RANK": ""}),
    Case("ompi_size_zero", "environment", ["OMPI_COMM_WORLD_SIZE='0'"], one={"OMPI_COMM_WORLD_SIZE": "0"}),
    Case("ompi_rank_not_below_size", "environment", ["OMPI_COMM_WORLD_RANK=2", "OMPI_COMM_WORLD_SIZE=2"],
         one={"OMPI_COMM_WORLD_RANK": "2"}, rank=1),
    Case("ompi_local_rank_not_below_local_size", "environment",
         ["OMPI_COMM_WORLD_LOCAL_RANK=3", "OMPI_COMM_WORLD_LOCAL_SIZE=2"], one={"OMPI_COMM_WORLD_LOCAL_RANK": "3"}),
    Case("ompi_local_size_not_a_number", "environment", ["OMPI_COMM_WORLD_LOCAL_SIZE='abc' is not an integer"],
         one={"OMPI_COMM_WORLD_LOCAL_SIZE": "abc"}, np=3, rank=1),
    # ---- Slurm host lists and tasks per node (the process as a Slurm step task) ----
    Case("hostlist_unclosed_bracket", "host list", ["SLURM_STEP_NODELIST", "n[1-"], prelude=SLURM,
         env={"LATE_SLURM_STEP_NODELIST": "n[1-"}),
    Case("hostlist_descending_range", "host list", ["SLURM_STEP_NODELIST", "n[3-1]"], prelude=SLURM,
         env={"LATE_SLURM_STEP_NODELIST": "n[3-1]"}),
    Case("hostlist_empty_entry", "host list", ["SLURM_STEP_NODELIST", "a,,b"], prelude=SLURM,
         env={"LATE_SLURM_STEP_NODELIST": "a,,b"}),
    Case("hostlist_letters_in_range", "host list", ["SLURM_STEP_NODELIST", "n[a-c]"], prelude=SLURM,
         env={"LATE_SLURM_STEP_NODELIST": "n[a-c]"}),
    Case("hostlist_nested_brackets", "host list", ["SLURM_STEP_NODELIST", "n[[1-2]]"], prelude=SLURM,
         env={"LATE_SLURM_STEP_NODELIST": "n[[1-2]]"}),
    Case("tasks_per_node_bad_repeat", "host list", ["SLURM_STEP_TASKS_PER_NODE", "2(x)"], prelude=SLURM,
         env={"LATE_SLURM_STEP_TASKS_PER_NODE": "2(x)"}),
    Case("tasks_per_node_not_a_number", "host list", ["SLURM_STEP_TASKS_PER_NODE", "two"], prelude=SLURM,
         env={"LATE_SLURM_STEP_TASKS_PER_NODE": "two"}),
    Case("slurm_procid_not_a_number", "environment", ["SLURM_PROCID='x'"], prelude=SLURM,
         env={"LATE_SLURM_PROCID": "x"}),
    # ---- launcher mix-ups ----
    Case("slurm_says_more_tasks_than_mpi", "launcher mix-up", ["SLURM_NTASKS=4 but MPI_Comm_size=2"], prelude=SLURM,
         env={"LATE_SLURM_NTASKS": "4", "LATE_SLURM_STEP_TASKS_PER_NODE": "4"}),
    Case("slurm_tasks_per_node_contradicts_ntasks", "host list", ["SLURM_STEP_TASKS_PER_NODE='2' sums to 2 tasks",
                                                                  "SLURM_NTASKS=4"], prelude=SLURM,
         env={"LATE_SLURM_NTASKS": "4"}),
    Case("torchrun_variables_say_every_rank_is_0", "launcher mix-up", ["WORLD_SIZE=1 but MPI_Comm_size=2"],
         env={"TORCHELASTIC_RUN_ID": "x", "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
              "LOCAL_WORLD_SIZE": "1"}),
    Case("ompi_rank_contradicts_mpi", "launcher mix-up", ["OMPI_COMM_WORLD_RANK=1 but MPI_Comm_rank=0"],
         one={"OMPI_COMM_WORLD_RANK": "1"}),
    Case("ompi_size_contradicts_mpi", "launcher mix-up", ["OMPI_COMM_WORLD_SIZE=3", "MPI_Comm_size=2"],
         one={"OMPI_COMM_WORLD_SIZE": "3"}, rank=1),
    Case("hydra_size_contradicts_mpi", "launcher mix-up", ["PMI_SIZE", "MPI"],
         prelude=("export PMI_RANK=$OMPI_COMM_WORLD_RANK PMI_SIZE=5 MPI_LOCALRANKID=$OMPI_COMM_WORLD_LOCAL_RANK; "
                  "unset " + OMPI_VARS, "MPICH Hydra")),
    Case("mvapich_rank_contradicts_mpi", "launcher mix-up", ["MV2_COMM_WORLD_RANK", "MPI"],
         prelude=("export MV2_COMM_WORLD_RANK=0 MV2_COMM_WORLD_SIZE=2; unset " + OMPI_VARS, "MVAPICH2")),
    # ---- settings ----
    Case("mode", "settings", ["MPINIT_MODE='fly' is not one of own|adopt|own_if_needed|env_only"],
         one={"MPINIT_MODE": "fly"}),
    Case("mode_adopt_without_mpi", "settings", ["mode 'adopt' needs an initialized MPI", "mode from MPINIT_MODE"],
         env={"MPINIT_MODE": "adopt"}, agreed=False),
    Case("thread_level", "settings", ["MPINIT_THREAD_LEVEL='high' is not one of"],
         one={"MPINIT_THREAD_LEVEL": "high"}),
    Case("log_level", "settings", ["MPINIT_LOG_LEVEL='loud' is not one of none|error|warn|info|debug|trace"],
         one={"MPINIT_LOG_LEVEL": "loud"}, np=4, rank=2),
    Case("log_ranks", "settings", ["MPINIT_LOG_RANKS='some' is not one of root|all"], one={"MPINIT_LOG_RANKS": "some"}),
    Case("check", "settings", ["MPINIT_CHECK='strict' is not one of off|warn|error"], one={"MPINIT_CHECK": "strict"}),
    Case("placement_switch", "settings", ["MPINIT_PLACEMENT='maybe' is not one of on|off"],
         one={"MPINIT_PLACEMENT": "maybe"}),
    Case("bind_switch", "settings", ["MPINIT_BIND='2' is not one of on|off"], one={"MPINIT_BIND": "2"}),
    Case("gpu_policy", "settings", ["MPINIT_GPU_POLICY='round-robin' is not one of spread|exclusive|split|none"],
         one={"MPINIT_GPU_POLICY": "round-robin"}),
    Case("seed_negative", "settings", ["MPINIT_SEED='-5' is not a seed"], one={"MPINIT_SEED": "-5"}),
    Case("seed_too_large", "settings", ["MPINIT_SEED='18446744073709551616' is out of range"],
         one={"MPINIT_SEED": "18446744073709551616"}),
    Case("nccl_mode", "settings", ["MPINIT_NCCL='eager' is not one of off|lazy|launch"], one={"MPINIT_NCCL": "eager"}),
    Case("nccl_timeout_zero", "settings", ["MPINIT_NCCL_TIMEOUT='0'"], one={"MPINIT_NCCL_TIMEOUT": "0"}),
    Case("nccl_timeout_unit", "settings", ["MPINIT_NCCL_TIMEOUT='1h'"], one={"MPINIT_NCCL_TIMEOUT": "1h"}),
    Case("nccl_ranks_per_root", "settings", ["MPINIT_NCCL_RANKS_PER_ROOT='0'"], one={"MPINIT_NCCL_RANKS_PER_ROOT": "0"}),
    Case("launch_timeout_negative", "settings", ["MPINIT_LAUNCH_TIMEOUT='-1'"], one={"MPINIT_LAUNCH_TIMEOUT": "-1"}),
    Case("launch_timeout_unit", "settings", ["MPINIT_LAUNCH_TIMEOUT='30s'"], one={"MPINIT_LAUNCH_TIMEOUT": "30s"},
         np=3, rank=2),
    Case("topology_empty_setting", "settings", ["MPINIT_TOPOLOGY='' is empty"], one={"MPINIT_TOPOLOGY": ""}),
    # ---- topologies ----
    Case("topology_missing_file", "topology", ["/nonexistent/node.xml"], env={"MPINIT_TOPOLOGY": "/nonexistent/node.xml"}),
    Case("topology_not_xml", "topology", ["garbage.xml"],
         env={"MPINIT_TOPOLOGY": scratch_file("garbage.xml", "this is not xml\n")}),
    Case("topology_empty_file", "topology", ["empty.xml"], env={"MPINIT_TOPOLOGY": scratch_file("empty.xml", "")}),
    Case("topology_a_directory", "topology", [SCRATCH], env={"MPINIT_TOPOLOGY": SCRATCH}),
    Case("topology_truncated", "topology", ["truncated.xml"], env={"MPINIT_TOPOLOGY": "@truncated"}, needs=LASSEN),
    # ---- GPU and NIC counts ----
    Case("visible_gpu_out_of_range", "GPUs", ["CUDA_VISIBLE_DEVICES", "9"],
         env={"MPINIT_TOPOLOGY": LASSEN, "CUDA_VISIBLE_DEVICES": "9"}, needs=LASSEN),
    Case("visible_gpu_repeated", "GPUs", ["CUDA_VISIBLE_DEVICES", "0,0"],
         env={"MPINIT_TOPOLOGY": LASSEN, "CUDA_VISIBLE_DEVICES": "0,0"}, needs=LASSEN),
    Case("visible_gpu_empty_entry", "GPUs", ["CUDA_VISIBLE_DEVICES", "0,,1"],
         env={"MPINIT_TOPOLOGY": LASSEN, "CUDA_VISIBLE_DEVICES": "0,,1"}, needs=LASSEN),
    Case("visible_gpu_unknown_uuid", "GPUs", ["CUDA_VISIBLE_DEVICES", "GPU-deadbeef"],
         env={"MPINIT_TOPOLOGY": LASSEN, "CUDA_VISIBLE_DEVICES": "GPU-deadbeef"}, needs=LASSEN),
    Case("visible_gcd_out_of_range", "GPUs", ["ROCR_VISIBLE_DEVICES", "12"],
         env={"MPINIT_TOPOLOGY": TIOGA, "ROCR_VISIBLE_DEVICES": "12"}, needs=TIOGA),
    Case("visible_gpu_on_one_rank_only", "GPUs", ["CUDA_VISIBLE_DEVICES", "x"],
         env={"MPINIT_TOPOLOGY": LASSEN}, one={"CUDA_VISIBLE_DEVICES": "x"}, rank=1, needs=LASSEN),
    Case("exclusive_with_too_few_gpus", "GPUs", ["'exclusive' gives each rank its own GPU", "see only 4 GPU(s)"],
         env={"MPINIT_TOPOLOGY": LASSEN, "MPINIT_GPU_POLICY": "exclusive"}, np=5, needs=LASSEN),
    Case("more_ranks_than_cores_oversubscribe_off", "GPUs", ["MPINIT_OVERSUBSCRIBE=off forbids sharing them"],
         env={"MPINIT_OVERSUBSCRIBE": "off"}, np=os.cpu_count() + 1),
]


def command(case):
    """The per-rank shell: another launcher's view (prelude), then variables set late (after the
    prelude; LATE_X sets X), then the one-rank assignment, then the probe; prints EXIT rank status."""
    late = " ".join(f"{k[5:]}={shlex.quote(v)}" for k, v in case.env.items() if k.startswith("LATE_"))
    one = " ".join(f"{k}={shlex.quote(v)}" for k, v in case.one.items())
    script = (f'R=$OMPI_COMM_WORLD_RANK; {case.prelude[0] + "; " if case.prelude else ""}'
              f'{"export " + late + "; " if late else ""}'
              f'if [ "$R" = "{case.rank}" ]; then {"export " + one if one else ":"}; fi; '
              f'"$0"; echo "EXIT $R $?"')
    return ["/bin/sh", "-c", script, PROBE]


def run_case(case):
    env = clean_env(**{k: v for k, v in case.env.items() if not k.startswith("LATE_")})
    if env.get("MPINIT_TOPOLOGY") == "@truncated":
        env["MPINIT_TOPOLOGY"] = truncated_lassen()
    args = [MPIEXEC, "--oversubscribe", "-np", str(case.np)] + command(case)
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    return p, time.monotonic() - t0


@unittest.skipUnless(FLAVOUR == "openmpi", "the catalogue drives Open MPI's mpirun and variables")
class Catalogue(unittest.TestCase):
    def test_catalogue_has_40_cases(self):
        self.assertGreaterEqual(len(CASES), 40)
        self.assertEqual(len({c.name for c in CASES}), len(CASES))

    def check(self, case):
        if case.needs and not os.path.exists(case.needs):
            self.skipTest(f"needs {case.needs}")
        p, seconds = run_case(case)
        out = p.stdout + p.stderr
        statuses = sorted(l.split()[1:] for l in p.stdout.splitlines() if l.startswith("EXIT "))
        self.assertEqual(len(statuses), case.np, out)
        for rank, status in statuses:
            self.assertNotEqual(status, "0", f"rank {rank} exited 0:\n{out}")
        errors = [l for l in p.stdout.splitlines() if l.startswith("ERROR ")]
        self.assertEqual(len(errors), case.np, out)
        same = errors if case.agreed else [e.split(" (raised by")[0] for e in errors]
        self.assertEqual(len(set(same)), 1, "messages differ:\n" + "\n".join(errors))
        for part in case.expect:
            self.assertIn(part, errors[0])
        self.assertIn("raised by mpinit::launch on rank", errors[0])
        self.assertIn(HOST, errors[0])
        self.assertLess(seconds, BUDGET_S, errors[0])
        self.assertEqual(nothing_left(PROBE), [])
        print(f"\n  [{seconds:.2f} s] {case.name}: {errors[0][6:]}")


def add_tests():
    for c in CASES:
        setattr(Catalogue, f"test_{c.name}", lambda self, c=c: self.check(c))


add_tests()


def markdown():
    print("| # | case | group | input | the message names |")
    print("| --- | --- | --- | --- | --- |")
    for i, c in enumerate(CASES, 1):
        names = "; ".join("`" + e.replace(SCRATCH, "<tmp>").replace("|", "\\|") + "`" for e in c.expect)
        print(f"| {i} | `{c.name}` | {c.group} | {c.input_text()} | {names} |")


if __name__ == "__main__":
    if "--markdown" in sys.argv:
        markdown()
    else:
        unittest.main()
