"""A rank that unwinds from an exception alone ends the job (docs/reliability.md): under this
build's launcher on one node (Open MPI's mpirun with its abort on a non-zero exit off, or MPICH's
mpiexec.hydra), at several rank counts, odd ones too. The fake-node runs are in
test/launchers/test_launchers.py (LoneExceptionFakeNodes, HydraFakeNodes).

Each run must end within 15 s with no process of it left, and no node share in /tmp or /dev/shm."""
import os
import re
import socket
import subprocess
import time
import unittest

BUILD = os.environ.get("MPINIT_BUILD_DIR", "build")
MPIEXEC = os.environ.get("MPINIT_MPIEXEC", "mpiexec")
FLAVOUR = os.environ.get("MPINIT_MPI_FLAVOUR", "openmpi")
PROGRAM = os.path.join(BUILD, "test", "lone_exception")
HOST = socket.gethostname()
RANK_VAR = "OMPI_COMM_WORLD_RANK" if FLAVOUR == "openmpi" else "PMI_RANK"
LIMIT_S = 15  # the job must end by then; a run still going at 60 s is killed and fails
MARK = "LONE_EXCEPTION_TEST"
MARK_VALUE = f"{os.getpid()}.{time.time_ns()}"
ABORT_LINE = re.compile(r"^mpinit: rank (\d+) \((\S+)\) unwound from an exception that the other ranks did not raise "
                        r"with it \(not an agreed mpinit::Error\): its Session ends the job with "
                        r"MPI_Abort\(MPI_COMM_WORLD, 1\) .* \(raised by mpinit::~Session on rank (\d+), (\S+)\)$", re.M)
TIMINGS = []


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OMPI_COMM_WORLD", "PMIX_", "PMI_", "SLURM_", "MPINIT_", "MPI_LOCAL", "LONE_"))}
    env.update(extra)
    env[MARK] = MARK_VALUE
    return env


def left_behind():
    """Live processes of this test's runs (they carry MARK in their environment)."""
    needle = f"\0{MARK}={MARK_VALUE}\0".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if needle in b"\0" + f.read():
                    found.append(int(d))
        except OSError:
            pass
    return found


def shares():
    share = re.compile(r"^mpinit-\d+-[0-9a-f]{16}$")
    return {os.path.join(b, d) for b in ("/dev/shm", "/tmp") if os.path.isdir(b) for d in os.listdir(b)
            if share.match(d)}


class LoneException(unittest.TestCase):
    def run_job(self, np, mode, lone):
        """Runs the program under the launcher. Under Open MPI each rank's exit status comes back as
        "EXIT <rank> <status>" from a shell around it (which exits with the same status): mpirun with
        its abort on a non-zero exit off returns 0 whatever the ranks did. Not under hydra, whose
        exit status is the ranks' own: there a shell between hydra's proxy and the rank would split
        the node's share (its key is the pid of the rank's parent: lib/node/share.cpp, share_key)."""
        before = shares()
        script = f'"$0" "$@"; s=$?; echo "EXIT ${RANK_VAR} $s"; exit $s'
        wrap = ["/bin/sh", "-c", script] if FLAVOUR == "openmpi" else []
        cmd = [MPIEXEC] + (["--oversubscribe"] if FLAVOUR == "openmpi" else []) + ["-np", str(np), *wrap, PROGRAM, mode]
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=clean_env(LONE_RANK=str(lone)), start_new_session=True)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            out, err = p.communicate()
            for pid in left_behind():
                os.kill(pid, 9)
            self.fail(f"hung: killed after 60 s\n{out}\n{err}")
        seconds = time.monotonic() - t0
        deadline = time.monotonic() + 5
        while left_behind() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = left_behind()
        for pid in left:
            os.kill(pid, 9)
        text = f"$ {' '.join(cmd)}\nexit {p.returncode}, {seconds:.1f} s\n--- stdout\n{out}--- stderr\n{err}"
        self.assertEqual(left, [], "processes left behind (killed)\n" + text)
        self.assertEqual(shares() - before, set(), text)
        TIMINGS.append((f"{mode}, -np {np}, rank {lone}", seconds))
        return p.returncode, out, err, seconds, text

    def check_lone(self, np, lone, mode="lone"):
        rc, out, err, seconds, text = self.run_job(np, mode, lone)
        self.assertLess(seconds, LIMIT_S, text)
        self.assertNotEqual(rc, 0, text)
        lines = ABORT_LINE.findall(err)
        self.assertEqual(lines, [(str(lone), HOST, str(lone), HOST)], text)  # the thrower, and only it
        # Nobody went on as if nothing happened: no rank finished its barrier and exited 0, and
        # the thrower never got to its catch (MPI_Abort does not return).
        self.assertNotIn(f"rank {lone}: caught", out, text)
        self.assertNotRegex(out, r"EXIT \d+ 0$", text)
        print(f"\n  -np {np}, rank {lone} throws ({mode}): job ended in {seconds:.1f} s, exit {rc}")

    def test_a_lone_exception_ends_the_job(self):
        for np, lone in ((2, 1), (3, 1), (3, 0), (4, 3)):
            with self.subTest(np=np, lone=lone):
                self.check_lone(np, lone)

    def test_a_lone_exception_after_a_handled_agreed_error_still_ends_the_job(self):
        # The agreed Error was caught and is gone: the later lone exception is not taken for it.
        self.check_lone(3, 2, "lone_after_agreed")

    def test_an_agreed_error_finalizes_every_rank_and_exits_1(self):
        for np in (1, 3):
            with self.subTest(np=np):
                rc, out, err, seconds, text = self.run_job(np, "agreed", min(1, np - 1))
                self.assertLess(seconds, LIMIT_S, text)
                self.assertEqual(ABORT_LINE.findall(err), [], text)
                self.assertNotIn("MPI_ABORT", err, text)
                for r in range(np):
                    self.assertRegex(out, rf"(?m)^rank {r}: caught: mpinit: phase 'work' failed on 1 of {np} ranks? "
                                          rf"\(rank {min(1, np - 1)}\): this rank's input is bad .*; MPI finalized: 1$",
                                     text)
                    if FLAVOUR == "openmpi":
                        self.assertRegex(out, rf"(?m)^EXIT {r} 1$", text)
                if FLAVOUR != "openmpi":
                    self.assertEqual(rc, 1, text)  # hydra: the ranks' status
                print(f"\n  agreed error, -np {np}: every rank finalized and exited 1 in {seconds:.1f} s")


def tearDownModule():
    if TIMINGS:
        print("\nTIMINGS (s)")
        for name, s in TIMINGS:
            print(f"  {s:6.2f}  {name}")


if __name__ == "__main__":
    unittest.main()
