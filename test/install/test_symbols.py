"""The shared library's ABI is its public API only: no internal (detail::) symbol is exported, every
C entry point of mpinit.h is, and the C++ API lives in the versioned inline namespace."""
import os
import re
import subprocess
import unittest

LIB = os.environ["MPINIT_LIB"]
OBJECTS = os.environ["MPINIT_OBJECTS"]
NM = os.environ.get("NM", "nm")
SRC = os.environ["MPINIT_SOURCE_DIR"]


def symbols(path, *flags):
    out = subprocess.run([NM, "--defined-only", "-C", *flags, path], check=True, capture_output=True, text=True)
    names = []
    for line in out.stdout.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3:
            names.append(parts[2])
    return names


class Symbols(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exported = symbols(LIB, "-D")
        cls.mpinit = [s for s in cls.exported if "mpinit" in s and not s.startswith("std::")]

    def test_no_internal_symbol(self):
        internal = [s for s in self.exported if "mpinit::detail::" in s]
        self.assertEqual(internal, [], "internal symbols exported")

    def test_only_the_api_is_exported(self):
        # The version script (lib/mpinit.map): not even the std:: template instances an -O0 build
        # makes weak (some over internal types) leave the library.
        stray = [s for s in self.exported if not (s.startswith("mpinit_") or "mpinit::v2::" in s)]
        self.assertEqual(stray, [], "exported beside the API")

    def test_the_objects_have_internals(self):
        # The test would see them: the same objects, before the shared library hides them.
        inside = symbols(OBJECTS)
        self.assertTrue(any("mpinit::detail::parse_int" in s for s in inside))
        self.assertFalse(any("mpinit::detail::parse_int" in s for s in self.exported))

    def test_cxx_api_is_versioned(self):
        cxx = [s for s in self.mpinit if "mpinit::" in s]
        stray = [s for s in cxx if "mpinit::v2::" not in s]
        self.assertEqual(stray, [], "C++ symbols outside inline namespace v2")
        for want in ["mpinit::v2::launch(int*, char***, mpinit::v2::Options const&)",
                     "mpinit::v2::Session::~Session()", "typeinfo for mpinit::v2::Error",
                     "mpinit::v2::resolve_settings(", "mpinit::v2::plan_placement("]:
            self.assertTrue(any(s.startswith(want) for s in cxx), want)

    def test_every_c_entry_point(self):
        header = open(os.path.join(SRC, "include", "mpinit", "mpinit.h")).read()
        declared = set(re.findall(r"\b(mpinit_[a-z_]+)\s*\(", header))
        self.assertGreater(len(declared), 20)
        c_symbols = {s for s in self.exported if s.startswith("mpinit_")}
        self.assertEqual(declared - c_symbols, set(), "declared in mpinit.h, not exported")
        self.assertEqual(c_symbols - declared, set(), "exported, not in mpinit.h")


if __name__ == "__main__":
    unittest.main()
