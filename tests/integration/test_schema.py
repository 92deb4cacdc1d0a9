"""common/schema.h and db/migrations/ describe the same tables: the columns of
chats, messages and sync_status in the test stack's Postgres (information_schema,
after every migration ran) are schema.h's rows, in order, with their types."""
import os
import re
import unittest

import lib

SCHEMA_H = os.path.join(lib.REPO, "common", "schema.h")
TABLES = {"CHATS": "chats", "MESSAGES": "messages", "SYNC_STATUS": "sync_status"}
ROW = re.compile(r'\s*(?:FIRST|NEXT)\(arg,\s*(\w+),\s*"((?:[^"\\]|\\.)*)",\s*"(\w+)",\s*'
                 r'("\w+"|NULL),\s*(STRING|NUMBER|BOOL|JSON),\s*"(\w+)",\s*'
                 r'(ID|TEXT|TIME|RAW|INT|BOOL|STORE_ONLY),\s*(KEY|PLAIN)\)\s*\\?$')


def schema_tables():
    """{table: [(column, type), ...]} from schema.h's X-macro tables; every line of a
    table must be a row, so that a row written otherwise fails rather than vanishes."""
    tables = {}
    lines = iter(open(SCHEMA_H, encoding="utf-8").read().splitlines())
    for line in lines:
        start = re.match(r"#define CS_SCHEMA_(\w+)\(FIRST, NEXT, arg\)", line)
        if not start:
            continue
        rows = []
        while line.endswith("\\"):
            line = next(lines)
            row = ROW.match(line)
            if not row:
                raise AssertionError("not a row of CS_SCHEMA_%s: %r" % (start.group(1), line))
            sql_name = row.group(2).replace('\\"', '"').strip('"')
            rows.append((sql_name, row.group(6)))
        tables[TABLES[start.group(1)]] = rows
    return tables


class SchemaTest(unittest.TestCase):
    def test_schema_h_lists_the_columns_the_migrations_made(self):
        tables = schema_tables()
        self.assertEqual(sorted(tables), sorted(TABLES.values()))
        for table, columns in tables.items():
            stored = lib.psql(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = '%s' "
                "ORDER BY ordinal_position" % table)
            self.assertEqual(columns, [tuple(row) for row in stored], table)


if __name__ == "__main__":
    unittest.main()
