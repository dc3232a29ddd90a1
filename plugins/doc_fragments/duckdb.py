# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # Options and notes shared by the modules that work on one database file.
    DOCUMENTATION = r"""
options:
  database:
    description:
      - Path of the DuckDB database file on the managed host.
    type: path
    required: true
requirements:
  - duckdb (the Python package, 1.2 or later; tested with 2.0) on the managed host
notes:
  - DuckDB lets one process at a time open a database file for writing (any number may open it
    read-only when no process writes). A task fails with a clear message when another process
    holds the file; run it while the application is stopped or idle.
  - The collection keeps its bookkeeping in the schema C(_groundwork) inside each database -
    C(_groundwork.settings) (written by M(groundwork.platform.duckdb_database)) and
    C(_groundwork.load_ledger) (written by M(groundwork.platform.duckdb_load)). Every module of the
    collection applies the recorded settings to the connections it opens.
  - Writes happen in a single transaction; when a statement fails, everything is rolled back and
    the task fails naming the statement.
"""
