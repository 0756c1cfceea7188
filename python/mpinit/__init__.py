"""mpinit for Python: one call turns a process started by mpirun, srun (or nothing: a singleton)
into a ready distributed worker: identity, placement (GPU, NIC, CPU set), agreed seeds.

    import mpinit
    with mpinit.launch(seed=7) as s:
        print(s.rank, s.size, s.local_rank, s.node_rank, s.plan and s.plan["gpu"])

With mpi4py imported first, launch() adopts the MPI that mpi4py initialized (and never finalizes
it) and takes an mpi4py communicator as `comm`; without it, launch() initializes MPI itself,
after placing the process where the launcher says the local rank and size, and finalizes MPI
when the session is closed or at exit. Settings are keyword arguments named as in
`mpinit.settings()` (`seed=7`, `gpu_policy="exclusive"`): keyword > `--mpinit-*` flag in sys.argv
> MPINIT_* variable > default. See docs/python.md.
"""
import atexit
import sys
import weakref

from . import _mpinit

__all__ = ["Error", "Session", "launch", "settings", "setting_table", "current", "version"]
__version__ = _mpinit.version()


class Error(RuntimeError):
    """Every failure mpinit reports. After launch() agreed on a failure, every rank raises it with
    the same message, naming the phase, the failing rank(s), their host and the cause.

    code: "invalid_setting", "invalid_environment", "mpi", "mismatch", "not_built", "nccl",
    "system", "application" or "internal"; phase: the launch phase ("" outside launch());
    failed_ranks: the lowest failing ranks; failed_count: how many failed in all."""

    def __init__(self, message, code="internal", phase="", failed_ranks=(), failed_count=0):
        super().__init__(message)
        self.code, self.phase = code, phase
        self.failed_ranks, self.failed_count = list(failed_ranks), failed_count

    def __reduce__(self):
        return (type(self), (str(self), self.code, self.phase, self.failed_ranks, self.failed_count))


_mpinit._set_error_class(Error)


def version():
    """The library's version ("0.2.0")."""
    return _mpinit.version()


def setting_table():
    """Every setting, in table order: dicts of name, variable, flag, allowed, default, doc."""
    return _mpinit.setting_table()


def settings():
    """The settings' names (launch()'s keyword arguments), in table order."""
    return [row["name"] for row in _TABLE.values()]


_TABLE = {row["name"]: row for row in _mpinit.setting_table()}
_SESSIONS = weakref.WeakSet()  # open sessions, closed at exit
_CURRENT = None


def current():
    """The session launch() made last and that is still open; None when there is none."""
    s = _CURRENT() if _CURRENT is not None else None
    return s if s is not None and not s.closed else None


def _flag_value(name, value):
    """A keyword's value as the setting's variable would spell it."""
    allowed = _TABLE[name]["allowed"]
    if isinstance(value, bool):
        words = allowed.split("|")
        if allowed == "on|off":
            return "on" if value else "off"
        if len(words) == 2:  # a switch with two words of its own (log_ranks: root|all)
            return words[1] if value else words[0]
        return str(value)
    return str(value)


def _mpi4py():
    """mpi4py.MPI when the program imported it (launch() never imports it itself: importing it
    initializes MPI, which must come after placement)."""
    return sys.modules.get("mpi4py.MPI")


def _comm_handle(comm):
    if comm is None:
        return None
    MPI = _mpi4py()
    if MPI is None or not isinstance(comm, MPI.Comm):
        raise Error(f"mpinit.launch(comm=...) takes an mpi4py communicator (mpi4py.MPI.Comm), not "
                    f"{type(comm).__module__}.{type(comm).__qualname__}", "invalid_setting")
    if comm == MPI.COMM_NULL:
        raise Error("mpinit.launch(comm=...) was given MPI.COMM_NULL", "invalid_setting")
    if comm.Is_inter():
        raise Error("mpinit.launch(comm=...) takes an intra-communicator, not an inter-communicator",
                    "invalid_setting")
    # The Fortran handle is MPI's own portable name of a communicator (MPI_Comm_c2f/f2c), and
    # mpi4py gives it without its C headers: no build-time tie to mpi4py's version.
    return comm.py2f()


def _check_same_mpi(MPI):
    mine, theirs = _mpinit.mpi_library_version(), MPI.Get_library_version()
    if mine.split()[:3] != theirs.split()[:3]:
        raise Error(f"mpi4py is built against another MPI library than mpinit: mpi4py has "
                    f"'{theirs.splitlines()[0]}', mpinit '{mine.splitlines()[0]}'", "mpi")


class Session:
    """A launched process: identity, placement, seeds and the session's own communicator.

    Attributes: rank, size, local_rank, local_size, node_rank, node_count, host, launcher,
    sources (where each number came from), plan (this rank's GPU, NIC, CPUs, NUMA nodes and
    why, or None), global_seed, global_seed_source, rank_seed, owns_mpi. `comm` is an
    mpi4py.MPI.Comm over the session's duplicate when mpi4py is imported, else None."""

    def __init__(self, native):
        self._s = native
        ident = native.identity()
        self.rank, self.size = ident["rank"], ident["size"]
        self.local_rank, self.local_size = ident["local_rank"], ident["local_size"]
        self.node_rank, self.node_count = ident["node_rank"], ident["node_count"]
        self.host, self.launcher, self.from_mpi = ident["host"], ident["launcher"], ident["from_mpi"]
        self.sources = ident["sources"]
        self.plan = native.plan()
        self.global_seed, self.global_seed_source = native.global_seed()
        self.rank_seed = native.rank_seed()
        self.owns_mpi = native.owns_mpi()
        self.thread_level = native.thread_level()
        self._settings = native.settings()
        self._timings = native.timings()
        self._comm_f = native.comm_f()
        self._comm = None

    @property
    def closed(self):
        return self._s.closed()

    @property
    def comm(self):
        """mpi4py's view of the session's duplicate of the world (or of launch()'s `comm`):
        freed by close(), never by mpi4py. None without mpi4py, in env-only mode, or closed."""
        MPI = _mpi4py()
        if MPI is None or self._comm_f is None or self.closed:
            return None
        if self._comm is None:
            self._comm = MPI.Comm.f2py(self._comm_f)
        return self._comm

    @property
    def settings(self):
        """{name: (value, source)} for every setting, as resolved."""
        return self._settings

    @property
    def timings(self):
        """{phase: seconds} of launch()."""
        return self._timings

    @property
    def applied(self):
        return self.plan["applied"] if self.plan else ""

    def seed_for(self, name):
        """This rank's seed for a purpose of its own ("dropout", "data"), derived from the global seed."""
        return _mpinit.derive_seed(self.global_seed, self.rank, name)

    def agree(self, phase, cause="", code="application"):
        """Fail every rank together in a phase of your own (collective): `cause` is "" where this
        rank succeeded; when any rank failed, every rank raises the same mpinit.Error."""
        self._s.agree(phase, cause or "", code)

    def close(self):
        """Free the session's communicators; finalize MPI if the session initialized it. Idempotent."""
        self._comm = None
        self._s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        state = "closed" if self.closed else f"{self.launcher}, {'owns' if self.owns_mpi else 'adopted'} MPI"
        return (f"<mpinit.Session rank {self.rank}/{self.size} local {self.local_rank}/{self.local_size} "
                f"node {self.node_rank}/{self.node_count} on {self.host} ({state})>")


def launch(comm=None, **settings):
    """Launch this process and return its Session (collective over the job, or over `comm`).

    comm: an mpi4py communicator to work on (MPI initialized by mpi4py is adopted, never
    finalized); None: the world. settings: keyword arguments named as mpinit.settings() lists
    them; each wins over the `--mpinit-*` flags of sys.argv (taken out of it), the MPINIT_*
    variables and the defaults. Raises mpinit.Error, the same on every rank, for any failure."""
    global _CURRENT
    flags, unknown = [], []
    for name, value in settings.items():
        if name not in _TABLE:
            unknown.append(name)
        elif value is not None:
            flags.append((_TABLE[name]["variable"], f"mpinit.launch() keyword {name}", _flag_value(name, value)))
    comm_f = _comm_handle(comm)
    MPI = _mpi4py()
    if MPI is not None:
        _check_same_mpi(MPI)
    native, rest = _mpinit.launch(flags, comm_f, list(sys.argv))
    sys.argv[:] = rest
    # An unknown keyword is a bad setting too: every rank hears of it, the same way, in the
    # settings phase (one small allreduce, on every launch, so that no rank waits alone).
    cause = ""
    if unknown:
        cause = (f"mpinit.launch() has no setting {', '.join(repr(u) for u in unknown)} "
                 f"(the settings are: {', '.join(_TABLE)})")
    try:
        native.agree("settings", cause, "invalid_setting")
    except Error:
        native.close()
        raise
    s = Session(native)
    _SESSIONS.add(s)
    _CURRENT = weakref.ref(s)
    return s


@atexit.register
def _close_all():
    for s in list(_SESSIONS):
        s.close()


def _excepthook(kind, value, tb, _previous=sys.excepthook):
    # An exception that ends one rank of a job would leave the others waiting in a collective
    # (or in MPI_Finalize at exit): end the whole job, as `python -m mpi4py` does.
    _previous(kind, value, tb)
    for s in list(_SESSIONS):
        if not s.closed and s.size > 1:
            sys.stderr.flush()
            s._s.abort(1)


sys.excepthook = _excepthook
