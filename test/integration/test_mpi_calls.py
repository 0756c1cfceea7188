"""launch()'s MPI traffic is constant in the number of ranks on the default path: the same
calls and bytes per rank, and the same largest buffer, at 1, 3 and 8 ranks (counted by PMPI
interposition; counts are exact, so this is a test, not a benchmark)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_launch import BUILD, FLAVOUR, clean_env, mpirun  # noqa: E402

EXE = os.path.join(BUILD, "test", "bench", "bench_mpi_calls")


class MpiCalls(unittest.TestCase):
    def test_constant_in_the_number_of_ranks(self):
        seen = {}
        for np in (1, 3, 8):
            p, _ = mpirun(np, EXE)
            self.assertEqual(p.returncode, 0, p.stderr)
            calls = sorted(l for l in p.stdout.splitlines() if l.startswith("CALLS "))
            total = [l for l in p.stdout.splitlines() if l.startswith("TOTAL ")]
            self.assertEqual(len(total), 1, p.stdout)
            seen[np] = (calls, total[0].split()[2:])
        self.assertEqual(seen[1], seen[3])
        self.assertEqual(seen[1], seen[8])
        calls, (n, nbytes, largest) = seen[8]
        # No gather of per-rank data on the default path; the largest buffer is the topology XML.
        self.assertFalse(any("Gather" in c for c in calls), calls)
        self.assertLess(int(nbytes), 64 * 1024)
        print(f"\n  per rank at 1, 3 and 8 ranks: {n} MPI calls, {nbytes} bytes, largest buffer {largest} bytes")

    def test_nccl_root_ids_are_one_collective(self):
        # Two ranks per root: 1, 2 and 4 roots at 1, 3 and 8 ranks. Each root's id (128 bytes and
        # a success flag) reaches every rank in ONE MPI_Allreduce, whatever the number of roots
        # (it was one broadcast per root and an agreement).
        for np in (1, 3, 8):
            p, _ = mpirun(np, EXE, "nccl-ids", env=clean_env(MPINIT_NCCL_RANKS_PER_ROOT="2", NCCL_SOCKET_IFNAME="lo"))
            if p.returncode == 77:
                self.skipTest("built without NCCL")
            self.assertEqual(p.returncode, 0, p.stderr)
            roots = (np + 1) // 2
            lines = p.stdout.splitlines()
            self.assertIn(f"IDS {roots}", lines, p.stdout)
            calls = sorted(l for l in lines if l.startswith("CALLS "))
            self.assertEqual(calls, [f"CALLS MPI_Allreduce 1 {roots * 129} {roots * 129}"], p.stdout)
            self.assertIn(f"TOTAL {np} 1 {roots * 129} {roots * 129}", lines, p.stdout)


if __name__ == "__main__":
    unittest.main()
