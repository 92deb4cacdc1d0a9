"""The docs say what the code does: README.md's configuration table is the one
`chatsync config` prints from the code's own list (common/config.c), row for row.
Needs only the binaries (lib.BIN_DIR), not the stack's services."""
import os
import re
import subprocess
import unittest

import lib

README = os.path.join(lib.REPO, "README.md")
ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| (.*?) \| (.*) \|$")


def table_rows(lines, where):
    """{variable: (default, what it does)} of a Markdown table's rows; a row of
    another shape is a failure, not skipped."""
    rows = {}
    for line in lines:
        if line.startswith("| variable |") or line.startswith("|---"):
            continue
        match = ROW.match(line)
        if not match:
            raise AssertionError("%s: not a configuration row: %r" % (where, line))
        if match.group(1) in rows:
            raise AssertionError("%s: %s is listed twice" % (where, match.group(1)))
        rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def readme_table():
    """The first table after README.md's "## Configuration" heading."""
    with open(README, encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = lines.index("## Configuration")
    table = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return table_rows(table, "README.md")


def code_table():
    done = subprocess.run([os.path.join(lib.BIN_DIR, "chatsync"), "config"],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise AssertionError("chatsync config failed: %s" % done.stderr)
    return table_rows(done.stdout.splitlines(), "chatsync config")


class TestReadmeConfiguration(unittest.TestCase):
    def setUp(self):
        self.readme, self.code = readme_table(), code_table()

    def test_readme_configuration_table_lists_every_variable_of_the_code_and_no_other(self):
        self.assertGreater(len(self.code), 30)  # the whole table was read
        self.assertEqual(sorted(set(self.code) - set(self.readme)), [],
                         "in common/config.c but not in README.md")
        self.assertEqual(sorted(set(self.readme) - set(self.code)), [],
                         "in README.md but not in common/config.c")

    def test_readme_configuration_defaults_are_the_code_defaults(self):
        differ = ["%s: README.md %s, code %s" % (name, self.readme[name][0], self.code[name][0])
                  for name in sorted(set(self.code) & set(self.readme))
                  if self.readme[name][0] != self.code[name][0]]
        self.assertEqual(differ, [])

    def test_readme_configuration_descriptions_are_the_code_descriptions(self):
        differ = ["%s: README.md %r, code %r" % (name, self.readme[name][1], self.code[name][1])
                  for name in sorted(set(self.code) & set(self.readme))
                  if self.readme[name][1] != self.code[name][1]]
        self.assertEqual(differ, [])


if __name__ == "__main__":
    unittest.main()
