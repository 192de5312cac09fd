"""peewee imported without the servers' drivers (store/drivers.py): a process on SQLite loads
neither psycopg2 nor PyMySQL, and once a store is bound to a server, peewee holds what its own
import gives it: compared name for name with peewee imported as usual, in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

# peewee's state after the import: every module-level name (a module by its name, a class or
# function by its qualified name, anything else by its type), the adapters' attributes, and
# psycopg2's registered typecasters (peewee registers the UUID one).
_STATE = """
import json, sys, types
import peewee as pw

def shown(value):
    if isinstance(value, types.ModuleType):
        return "module " + value.__name__
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    if isinstance(value, (bool, int, str, float, type(None))):
        return repr(value)
    return "a " + type(value).__name__

state = {name: shown(value) for name, value in vars(pw).items() if not name.startswith("__")}
for adapter in ("Psycopg2Adapter", "Psycopg3Adapter", "MySQLDatabase"):
    state[adapter + " vars"] = {
        k: shown(v) for k, v in vars(getattr(pw, adapter)).items() if not k.startswith("__")
    }
if "psycopg2.extensions" in sys.modules:
    state["casters"] = sorted(map(str, sys.modules["psycopg2.extensions"].string_types))
state["drivers"] = sorted(m for m in ("psycopg2", "psycopg", "pymysql") if m in sys.modules)
print(json.dumps(state, sort_keys=True))
"""


def _state(setup: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", setup + "\n" + _STATE], check=True, cwd=ROOT, capture_output=True,
        text=True,
    )  # fmt: skip
    state: dict[str, object] = json.loads(done.stdout)
    return state


_DEFERRED = "import reconciler.store\n"


def test_the_store_imports_peewee_without_the_servers_drivers() -> None:
    state = _state(_DEFERRED)
    assert state["drivers"] == []
    assert (state["psycopg2"], state["mysql"]) == ("None", "None")


def test_the_loaded_drivers_leave_peewee_as_its_own_import_does() -> None:
    usual = _state("import peewee\n")
    assert usual["drivers"] == ["psycopg2", "pymysql"]  # (installed: the comparison says much)
    loads = "load_driver('postgresql')\nload_driver('mysql')\n"
    loaded = _state(_DEFERRED + "from reconciler.store.drivers import load_driver\n" + loads)
    assert loaded == usual


def test_one_driver_is_loaded_alone() -> None:
    loads = "from reconciler.store.drivers import load_driver\nload_driver('mysql')\n"
    state = _state(_DEFERRED + loads)
    assert state["drivers"] == ["pymysql"]
    assert state["mysql"] == "module pymysql" and state["psycopg2"] == "None"


def test_a_store_on_each_backend_loads_its_driver_and_works(database_url: str) -> None:
    """In a fresh interpreter (peewee imported by the store, without the drivers): a store on
    each backend is made, written and read; SQLite imports no driver.  (A server's URL goes
    through playhouse's URL module, which imports psycopg2 for its own PostgreSQL classes.)"""
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from reconciler.records import Checkpoint\n"
        "from reconciler.store import open_database\n"
        "now = datetime(2026, 1, 2, tzinfo=UTC)\n"
        f"with open_database({database_url!r}) as store:\n"
        "    store.migrate(now)\n"
        "    store.set_checkpoint(Checkpoint('box', 7, 42), now)\n"
        "    print(store.get_checkpoint('box'))\n"
        "print(sorted(m for m in ('psycopg2', 'pymysql') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True
    )
    checkpoint, drivers = done.stdout.splitlines()
    assert "uidvalidity=7, last_uid=42" in checkpoint
    expected = {"sqlite": "[]", "postgresql": "['psycopg2']", "mariadb": "['psycopg2', 'pymysql']"}
    assert drivers == expected[database_url.split(":", 1)[0]]
