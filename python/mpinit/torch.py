"""PyTorch over mpinit: a process group from a launch, under mpirun or srun, without torchrun.

    import mpinit.torch
    s = mpinit.torch.init_process_group()     # launch, torchrun's variables, set_device, init
    ...
    torch.distributed.destroy_process_group(); s.close()

init_process_group() launches (identity, placement, seeds), agrees on MASTER_ADDR/MASTER_PORT
over MPI (the rendezvous `mpinit exec` uses), sets torchrun's variables in os.environ, puts the
process on its planned GPU (torch.cuda.set_device) where CUDA is available and calls
torch.distributed.init_process_group("env://"): nccl with a GPU, gloo without, unless `backend`
says otherwise. The Composer-style getters read the current session.
"""
import os
from datetime import timedelta

import mpinit

__all__ = ["init_process_group", "get_global_rank", "get_world_size", "get_local_rank",
           "get_local_world_size", "get_node_rank"]


def init_process_group(backend=None, *, master_addr=None, master_port=None, timeout_s=None, comm=None,
                       **settings):
    """Launch (settings as mpinit.launch takes them), set torchrun's contract in os.environ
    (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK, GROUP_RANK, GROUP_WORLD_SIZE,
    ROLE_*, MASTER_ADDR, MASTER_PORT), set the planned CUDA device and initialize
    torch.distributed over the session's ranks. Returns the Session (close it after
    destroy_process_group, or let the interpreter's exit do it).

    master_addr/master_port: the rendezvous, else rank 0's MASTER_ADDR/MASTER_PORT, else
    127.0.0.1 on one node (an address of rank 0's host otherwise) and a port rank 0 found free.
    timeout_s: torch.distributed's timeout (its default when None)."""
    s = mpinit.launch(comm=comm, **settings)
    try:
        env = s._s.torchrun_env(master_addr, None if master_port is None else int(master_port))
        os.environ.update(env)
        import torch
        import torch.distributed as dist

        gpu = s.plan["gpu_ordinal"] if s.plan else None
        cuda = torch.cuda.is_available()
        if cuda and gpu is not None:
            torch.cuda.set_device(gpu)
        if backend is None:
            backend = "nccl" if cuda and gpu is not None and dist.is_nccl_available() else "gloo"
        kwargs = {} if timeout_s is None else {"timeout": timedelta(seconds=timeout_s)}
        dist.init_process_group(backend, init_method="env://", rank=s.rank, world_size=s.size, **kwargs)
    except BaseException:
        s.close()
        raise
    return s


def _session():
    s = mpinit.current()
    if s is None:
        raise mpinit.Error("no mpinit session: call mpinit.torch.init_process_group() or mpinit.launch() first",
                           "application")
    return s


def get_global_rank():
    return _session().rank


def get_world_size():
    return _session().size


def get_local_rank():
    return _session().local_rank


def get_local_world_size():
    return _session().local_size


def get_node_rank():
    return _session().node_rank
