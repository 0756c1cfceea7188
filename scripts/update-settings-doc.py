#!/usr/bin/env python3
"""Rewrite the settings table of docs/environment.md from `mpinit settings --markdown` (the one
table, MPINIT_SETTINGS). The `settings_table` test fails until this has been run after a change.
Usage: scripts/update-settings-doc.py [BUILD_DIR]"""
import os
import re
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
table = subprocess.run([os.path.join(build, "tools", "mpinit"), "settings", "--markdown"], check=True,
                       capture_output=True, text=True).stdout
path = os.path.join(root, "docs", "environment.md")
doc = open(path).read()
new, n = re.subn(r"(<!-- settings table:[^\n]*-->\n).*?(<!-- end of settings table -->)",
                 lambda m: m.group(1) + table + m.group(2), doc, flags=re.S)
if n != 1:
    sys.exit("docs/environment.md: no settings table markers")
open(path, "w").write(new)
