"""One settings table everywhere: the settings the library declares (MPINIT_SETTINGS, printed by
`mpinit settings`) are exactly those of the C config (mpinit.h), the Fortran config type, the
documentation table (docs/environment.md) and the report of `mpinit info --settings`. A setting
added in one place only fails here (or, for a table row without a C field, fails to compile)."""
import json
import os
import re
import subprocess
import unittest

BUILD = os.environ["MPINIT_BUILD_DIR"]
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(BUILD, "tools", "mpinit")
HEADER_FIELDS = ["struct_size", "magic", "version"]  # the config's own bookkeeping, not settings


def tool(*args):
    return subprocess.run([TOOL, *args], check=True, capture_output=True, text=True).stdout


def c_fields(path):
    text = open(path).read()
    body = re.search(r"typedef struct mpinit_config \{(.*?)\} mpinit_config_t;", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return re.findall(r"\b(\w+)\s*;", body)


def fortran_fields(path):
    text = open(path).read()
    body = re.search(r"type, bind\(C\), public :: mpinit_config\n(.*?)\n\s*end type", text, re.S).group(1)
    body = body.replace("&\n", " ")
    names = []
    for line in body.splitlines():
        decl = line.split("::", 1)[1]
        names += [item.split("=")[0].strip() for item in decl.split(",") if item.strip()]
    return names


class SettingsTable(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.table = json.loads(tool("settings", "--json"))
        cls.names = [row["name"] for row in cls.table]

    def test_table_rows(self):
        self.assertEqual(len(self.names), len(set(self.names)))
        self.assertGreaterEqual(len(self.names), 17)
        for row in self.table:
            self.assertTrue(row["variable"].startswith("MPINIT_"), row)
            self.assertEqual(row["flag"], "--mpinit-" + row["variable"][7:].lower().replace("_", "-"))
            self.assertTrue(row["doc"] and row["allowed"] and row["default"], row)

    def test_c_config_has_every_setting(self):
        fields = c_fields(os.path.join(SRC, "include", "mpinit", "mpinit.h"))
        self.assertEqual(fields[0], "struct_size")
        settings = [f for f in fields if f not in HEADER_FIELDS]
        self.assertEqual(sorted(settings), sorted(self.names), "mpinit_config_t and MPINIT_SETTINGS differ")

    def test_c_config_only_grows(self):
        old = c_fields(os.path.join(SRC, "test", "capi", "frozen", "mpinit-0.1.h"))
        new = c_fields(os.path.join(SRC, "include", "mpinit", "mpinit.h"))
        self.assertEqual(new[:len(old)], old, "0.1's fields must stay first, in their order")
        self.assertEqual(new[len(old):len(old) + 2], ["magic", "version"])

    def test_fortran_config_matches_c(self):
        fortran = fortran_fields(os.path.join(SRC, "fortran", "mpinit.f90"))
        self.assertEqual(fortran, c_fields(os.path.join(SRC, "include", "mpinit", "mpinit.h")))

    def test_docs_table_is_the_generated_one(self):
        doc = open(os.path.join(SRC, "docs", "environment.md")).read()
        m = re.search(r"<!-- settings table:[^\n]*-->\n(.*?)<!-- end of settings table -->", doc, re.S)
        self.assertIsNotNone(m, "docs/environment.md lost its settings table markers")
        self.assertEqual(m.group(1), tool("settings", "--markdown"),
                         "docs/environment.md differs from `mpinit settings --markdown`: run scripts/update-settings-doc.py")

    def test_report_names(self):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(("OMPI_", "PMIX_", "SLURM_", "PMI_", "MPINIT_")):
                env.pop(k)
        out = subprocess.run([TOOL, "info", "--env-only", "--json", "--settings"], check=True, capture_output=True,
                             text=True, env=env).stdout
        record = json.loads(out)
        self.assertEqual(sorted(record["settings"].keys()), sorted(self.names))
        for row in self.table:
            if row["name"] == "mode":  # --env-only sets it
                self.assertEqual(record["settings"]["mode"], {"value": "env_only", "source": "option"})
                continue
            self.assertEqual(record["settings"][row["name"]]["source"], "default")
            self.assertEqual(record["settings"][row["name"]]["value"], row["default"])


if __name__ == "__main__":
    unittest.main()
