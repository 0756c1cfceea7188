"""A torchrun-style PyTorch script (CPU, gloo): init from env://, all-reduce, check, and print
one JSON line with what it saw. Run by `mpinit exec` in the tests and the benchmark, and by a
static start of workers with torchrun's variables as the baseline. With `--mpinit` as its first
argument it starts itself under plain mpirun: mpinit.torch.init_process_group("gloo") (the
Python package) instead of init_process_group("env://")."""
import json
import os
import sys
import time

t0 = time.monotonic()
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

if sys.argv[1:2] == ["--mpinit"]:
    import mpinit.torch  # noqa: E402
    session = mpinit.torch.init_process_group("gloo")
else:
    dist.init_process_group("gloo", init_method="env://")
ready = time.monotonic()
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
ok = t.item() == world * (world + 1) / 2
dist.barrier()
dist.destroy_process_group()
print(json.dumps({
    "rank": rank, "world_size": world,
    "env_rank": int(os.environ["RANK"]), "env_world_size": int(os.environ["WORLD_SIZE"]),
    "local_rank": int(os.environ["LOCAL_RANK"]), "local_world_size": int(os.environ["LOCAL_WORLD_SIZE"]),
    "node_rank": int(os.environ.get("NODE_RANK", "-1")), "group_rank": int(os.environ.get("GROUP_RANK", "-1")),
    "master": f'{os.environ["MASTER_ADDR"]}:{os.environ["MASTER_PORT"]}',
    "seed": os.environ.get("MPINIT_SEED"), "rank_seed": os.environ.get("MPINIT_RANK_SEED"),
    "affinity": sorted(os.sched_getaffinity(0)), "allreduce": t.item(), "ok": ok,
    "argv": sys.argv[1:], "import_and_init_s": ready - t0,
}), flush=True)
sys.exit(0 if ok else 3)
