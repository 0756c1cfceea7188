"""The installed mpinit, as users find it: `meson install` into a staging directory, then the
examples built from there with pkg-config (C and C++) and with CMake's find_package(mpinit), and
each run under the real mpirun."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from test_launch import BUILD, mpirun, clean_env  # noqa: E402

SOURCE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = os.path.join(SOURCE, "examples")
LIMIT_S = 180
LINE = re.compile(r"rank (\d+)/(\d+), local (\d+)/(\d+), node 0/1 on \S+")


def sh(*cmd, env=None, cwd=None):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=LIMIT_S, env=env, cwd=cwd)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


class Installed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mpinit-install-")
        dest = os.path.join(cls.tmp, "stage")
        sh("meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild", "--quiet")
        options = sh("meson", "introspect", BUILD, "--buildoptions").stdout
        opts = {o["name"]: o["value"] for o in json.loads(options)}
        cls.prefix = dest + opts["prefix"]
        cls.libdir = os.path.join(cls.prefix, opts["libdir"])
        # The staged .pc names the final prefix; point a copy at the staging directory (its only
        # change), so the other packages it requires (MPI) resolve as they would for a user.
        pc_dir = os.path.join(cls.tmp, "pkgconfig")
        os.makedirs(pc_dir)
        with open(os.path.join(cls.libdir, "pkgconfig", "mpinit.pc")) as f:
            pc = f.read()
        assert f"prefix={opts['prefix']}\n" in pc, pc
        with open(os.path.join(pc_dir, "mpinit.pc"), "w") as f:
            f.write(pc.replace(f"prefix={opts['prefix']}\n", f"prefix={cls.prefix}\n", 1))
        cls.env = clean_env(PKG_CONFIG_PATH=pc_dir, LD_LIBRARY_PATH=cls.libdir)
        # Where the Python package went (the interpreter's site directory under the prefix), as
        # meson installed it; None when the package is not built.
        installed = json.loads(sh("meson", "introspect", BUILD, "--installed").stdout)
        inits = [v for v in installed.values() if v.endswith(os.path.join("mpinit", "__init__.py"))]
        cls.py_site = os.path.dirname(os.path.dirname(dest + inits[0])) if inits else None

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check_run(self, exe, np=3):
        p, _ = mpirun(np, exe, env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        ranks = sorted(int(LINE.search(l).group(1)) for l in p.stdout.splitlines() if LINE.search(l))
        self.assertEqual(ranks, list(range(np)), p.stdout)

    def test_installed_files(self):
        for f in ("include/mpinit/mpinit.hpp", "include/mpinit/mpinit.h", "include/mpinit/features.hpp",
                  "include/mpinit/mpinit.f90", "bin/mpinit"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, f)), f)
        for f in ("libmpinit.so", "pkgconfig/mpinit.pc", "cmake/mpinit/mpinitConfig.cmake",
                  "cmake/mpinit/mpinitConfigVersion.cmake"):
            self.assertTrue(os.path.exists(os.path.join(self.libdir, f)), f)

    def test_pkg_config_c_and_cxx(self):
        flags = sh("pkg-config", "--cflags", "--libs", "mpinit", env=self.env).stdout.split()
        self.assertIn("-lmpinit", flags)
        out = os.path.join(self.tmp, "hello_pc_c")
        sh("cc", "-std=c11", os.path.join(EXAMPLES, "hello.c"), "-o", out, *flags, env=self.env)
        self.check_run(out)
        out = os.path.join(self.tmp, "hello_pc_cpp")
        sh("c++", "-std=c++17", os.path.join(EXAMPLES, "hello.cpp"), "-o", out, *flags, env=self.env)
        self.check_run(out)

    def test_cmake_find_package(self):
        build = os.path.join(self.tmp, "cmake-build")
        sh("cmake", "-S", EXAMPLES, "-B", build, f"-DCMAKE_PREFIX_PATH={self.prefix}", "-DCMAKE_BUILD_TYPE=Release",
           env=self.env)
        sh("cmake", "--build", build, env=self.env)
        self.check_run(os.path.join(build, "hello_c"), np=2)
        self.check_run(os.path.join(build, "hello_cpp"), np=2)
        # A version the package does not satisfy is refused.
        bad = os.path.join(self.tmp, "cmake-bad")
        os.makedirs(bad)
        with open(os.path.join(bad, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.16)\nproject(x C)\nfind_package(mpinit 9.0 REQUIRED)\n")
        p = subprocess.run(["cmake", "-S", bad, "-B", os.path.join(bad, "b"), f"-DCMAKE_PREFIX_PATH={self.prefix}"],
                           capture_output=True, text=True, timeout=LIMIT_S, env=self.env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("mpinit", p.stderr)

    def test_python_package_from_the_prefix(self):
        if self.py_site is None:
            self.skipTest("the Python package is not built (-Dpython)")
        python = os.environ.get("MPINIT_PYTHON", "/usr/bin/python3")
        self.assertTrue(self.py_site.startswith(self.prefix), self.py_site)
        ext = [f for f in os.listdir(os.path.join(self.py_site, "mpinit")) if f.startswith("_mpinit")]
        self.assertEqual(len(ext), 1, ext)
        runpath = sh("readelf", "-d", os.path.join(self.py_site, "mpinit", ext[0])).stdout
        self.assertIn("$ORIGIN/", runpath)  # relative: the staged prefix works as the final one
        # No LD_LIBRARY_PATH: the extension finds the staged libmpinit through its rpath.
        env = {k: v for k, v in self.env.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
        env["PYTHONPATH"] = self.py_site
        code = ("import mpinit, mpinit.torch; s = mpinit.launch(); "
                "print(s.rank, s.size, mpinit.__file__, mpinit.version())")
        p = sh(python, "-c", code, env=env, cwd=self.tmp)
        rank, size, path, version = p.stdout.split()
        self.assertEqual((rank, size, version), ("0", "1", "0.2.0"))
        self.assertTrue(path.startswith(self.py_site), path)
        lib = sh(python, "-c", "import mpinit._mpinit as m; print(open('/proc/self/maps').read())", env=env).stdout
        self.assertIn(os.path.join(self.libdir, "libmpinit.so"), lib)  # the staged library, not the build tree's
        p, _ = mpirun(3, python, "-c", "import mpinit; s = mpinit.launch(); print(f'rank {s.rank}/{s.size}')", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        # mpirun forwards each rank's output in chunks: find the records, not the lines.
        self.assertEqual(sorted(re.findall(r"rank \d+/3", p.stdout)), [f"rank {r}/3" for r in range(3)])


if __name__ == "__main__":
    unittest.main()
