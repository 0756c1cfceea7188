"""One rank of the Python tests (test_python.py, and test_launchers.py's PythonFakeNodes): does
what argv[1] says and prints one line, `OK {json}` or `ERROR code|phase|message`."""
import json
import os
import sys

what = sys.argv[1]
if what in ("mpi4py", "mpi4py-world", "bad-mpi4py", "singleton-mpi4py"):
    from mpi4py import MPI  # noqa: F401  (imported first: mpinit adopts the MPI it initialized)
import mpinit  # noqa: E402


def emit(line):
    """One line to LAUNCHER_PROBE_DIR/<pid> when set (long lines of several ranks do not mix
    there, as they can on mpirun's stdout), else to stdout."""
    d = os.environ.get("LAUNCHER_PROBE_DIR")
    if d:
        with open(os.path.join(d, f"{os.getpid()}.txt"), "a") as f:
            f.write(line + "\n")
    else:
        print(line, flush=True)


def record(s, **extra):
    r = {"rank": s.rank, "size": s.size, "local_rank": s.local_rank, "local_size": s.local_size,
         "node_rank": s.node_rank, "node_count": s.node_count, "host": s.host, "launcher": s.launcher,
         "from_mpi": s.from_mpi, "sources": s.sources, "owns_mpi": s.owns_mpi,
         "global_seed": s.global_seed, "global_seed_source": s.global_seed_source, "rank_seed": s.rank_seed,
         "seed_data": s.seed_for("data"), "argv": sys.argv[2:],
         "gpu": s.plan["gpu"] if s.plan else None, "gpu_busid": s.plan["gpu_busid"] if s.plan else None,
         "nic": s.plan["nic"] if s.plan else None, "cpus": s.plan["cpus"] if s.plan else None,
         "plan_keys": sorted(s.plan) if s.plan else [], "affinity": sorted(os.sched_getaffinity(0)),
         "settings": s.settings}
    r.update(extra)
    emit("OK " + json.dumps(r))


def error(e):
    emit(f"ERROR {e.code}|{e.phase}|{e}")


def env_rank():
    return int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))


if what == "identity":  # keywords from argv: --kw NAME=VALUE
    kw = {}
    args = sys.argv[2:]
    while "--kw" in args:
        i = args.index("--kw")
        name, value = args[i + 1].split("=", 1)
        kw[name] = int(value) if value.isdigit() else value
        del args[i:i + 2]
    sys.argv[2:] = args
    with mpinit.launch(**kw) as s:
        comm_is_none = s.comm is None
        record(s, comm_none=comm_is_none, current=mpinit.current() is s)
    emit(f"CLOSED {s.closed} {mpinit.current() is None}")

elif what in ("mpi4py", "mpi4py-world"):
    from mpi4py import MPI
    world = MPI.COMM_WORLD
    comm = world.Split(world.rank % 2, -world.rank) if what == "mpi4py" else None  # reversed order
    s = mpinit.launch(comm=comm, seed=11)
    mine = s.comm
    cmp = MPI.Comm.Compare(mine, comm if comm else world)
    total = mine.allreduce(s.rank)
    s.close()
    after = world.allreduce(1)  # mpi4py still works: MPI is not finalized
    record(s, world_rank=world.rank, sub_rank=comm.rank if comm else world.rank,
           sub_size=comm.size if comm else world.size, congruent=cmp == MPI.CONGRUENT, total=total,
           after_close=after, comm_after_close=s.comm is None, finalized=MPI.Is_finalized())
    if comm:
        comm.Free()

elif what in ("bad", "bad-mpi4py"):  # argv[2]: the rank that gets the bad keyword; argv[3]: its kind
    bad_rank, kind = int(sys.argv[2]), sys.argv[3]
    kw = {"seed": 3}
    if env_rank() == bad_rank:
        kw = {"seed": "bogus"} if kind == "value" else {"seed": 3, "gpu_polcy": "exclusive"}
    try:
        s = mpinit.launch(**kw)
        record(s)
    except mpinit.Error as e:
        error(e)
    if what == "bad-mpi4py":
        from mpi4py import MPI
        emit(f"AFTER {MPI.COMM_WORLD.allreduce(1)}")

elif what in ("singleton", "singleton-mpi4py"):
    s = mpinit.launch(seed=1)
    record(s, comm_none=s.comm is None)
    s.close()

elif what == "torch":
    import torch
    import torch.distributed as dist
    import mpinit.torch as mt
    s = mt.init_process_group(seed=5)
    t = torch.tensor([float(s.rank + 1)])
    dist.all_reduce(t)
    gathered = [None] * s.size
    dist.all_gather_object(gathered, {"rank": s.rank, "host": s.host})
    env = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK",
                                          "GROUP_RANK", "GROUP_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    helpers = [mt.get_global_rank(), mt.get_world_size(), mt.get_local_rank(), mt.get_local_world_size(),
               mt.get_node_rank()]
    backend = dist.get_backend()
    torch_rank, torch_size = dist.get_rank(), dist.get_world_size()
    dist.destroy_process_group()
    s.close()
    record(s, allreduce=t.item(), gathered=gathered, env=env, helpers=helpers, backend=backend,
           torch_rank=torch_rank, torch_size=torch_size)

elif what == "uncaught":  # one rank raises; the others would wait in a collective for ever
    s = mpinit.launch()
    if s.rank == 1:
        raise RuntimeError("rank 1 gives up")
    s.agree("work", "")  # a collective rank 1 never joins
    print("NOT REACHED", flush=True)

else:
    sys.exit(f"worker: unknown mode {what}")
