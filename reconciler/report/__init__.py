"""Terminal output with rich: tables, reports, progress bars; and the `--json` shapes.

rich is imported inside this package only (STYLE 1).  Output stays readable without colour and
when piped: rich detects both by itself.  Modules: `console` (console, progress bar),
`classify` (the tables of classify, explain, rules), `results` (the classify rows and their
JSON, without rich), `ops` (poll, dry-run, mode, decisions, suppressions), `overview`
(`report`), `trail` (`user show`, `status`), `gather` (the read-only queries behind them) and
`shapes` (their JSON, documented in docs/cli.md).

Nothing is re-exported here: a command imports the modules it prints with, so that
`classify --json` never loads rich, nor `report --json` the IMAP client.
"""
