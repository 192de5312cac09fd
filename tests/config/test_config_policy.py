"""The `[policy]` and `[actions]` sections: defaults, validation naming the key, hidden secrets."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest
from support import ROOT

from reconciler.config import (
    ActionsSettings,
    CommandSettings,
    MediaWikiSettings,
    ProbeSettings,
    Settings,
    SmtpSettings,
    WebhookSettings,
    describe_settings,
    load_settings,
)
from reconciler.errors import ConfigError
from reconciler.settings import BreakerSettings, DayThreshold, IncidentSettings, PolicySettings

EXAMPLE = ROOT / "config.example.toml"
HOOK_KEY = "hook-secret-0123456789abcdef"
WIKI_PASSWORD = "wiki-db-password-42"
ENV = {"HOOK_KEY": HOOK_KEY, "WIKI_PW": WIKI_PASSWORD}


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "reconciler.toml"
    path.write_text(text)
    path.chmod(0o600)
    return load_settings(path, ENV)


def test_defaults_without_the_sections(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    assert settings.policy == PolicySettings()
    assert settings.actions == ActionsSettings()
    assert settings.actions.enabled == ("suppress",)


def test_example_shows_the_defaults() -> None:
    names = re.findall(r'^\s*\w+_env = "(\w+)"', EXAMPLE.read_text(), re.M)
    settings = load_settings(EXAMPLE, {name: f"secret-for-{name}-0123456789" for name in names})
    assert settings.policy == PolicySettings()
    assert settings.actions == ActionsSettings()


_RECORDS = (
    PolicySettings,
    DayThreshold,
    IncidentSettings,
    BreakerSettings,
    ActionsSettings,
    WebhookSettings,
    CommandSettings,
    MediaWikiSettings,
)
_NOT_KEYS = {"hard", "soft", "incident", "breaker", "webhook", "command", "mediawiki", "wikis"}
_NOT_KEYS |= {"secret", "password"}  # read from <stem>_env / <stem>_file


@pytest.mark.parametrize("record", _RECORDS, ids=lambda r: r.__name__)
def test_example_documents_every_key(record: type) -> None:
    text = EXAMPLE.read_text()
    for item in dataclasses.fields(record):
        if item.name not in _NOT_KEYS:
            key = re.escape(f"{item.name} =")
            assert re.search(rf"^[ #]*{key}", text, re.M), f"{record.__name__}.{item.name}"
    for table in ("[policy]", "[policy.hard]", "[policy.soft]", "[policy.incident]",
                  "[policy.breaker]", "[actions]", "[actions.webhook]", "[actions.command]",
                  "[actions.mediawiki]", "[actions.mediawiki.wikis]"):  # fmt: skip
        assert table in text


FULL = f"""
[policy]
quiet_days = 0
[policy.hard]
days = 2
window_days = 7
[policy.breaker]
max_actions = 10
max_action_share = 1
[actions]
enabled = ["suppress", "webhook", "command", "mediawiki"]
[actions.webhook]
url = "https://hooks.example.org/bounces"
secret_env = "HOOK_KEY"
max_attempts = 3
[actions.command]
argv = ["{sys.executable}", "-c", "pass"]
timeout_seconds = 5
[actions.mediawiki]
url = "mysql://wiki@db.example.org:3306/wikidb"
password_env = "WIKI_PW"
table_prefix = "mw_"
realm = "enwiki"
"""


def test_every_section_loads(tmp_path: Path) -> None:
    settings = load(tmp_path, FULL)
    assert settings.policy == PolicySettings(
        hard=DayThreshold(2, 7),
        quiet_days=0,
        breaker=BreakerSettings(max_actions=10, max_action_share=1.0),
    )
    actions = settings.actions
    assert actions.enabled == ("suppress", "webhook", "command", "mediawiki")
    assert actions.webhook is not None and actions.webhook.secret == HOOK_KEY.encode()
    assert actions.webhook.max_attempts == 3 and actions.webhook.secret_env == "HOOK_KEY"
    assert actions.command == CommandSettings(
        argv=(sys.executable, "-c", "pass"), timeout_seconds=5
    )
    wiki = actions.mediawiki
    assert wiki is not None and (wiki.password, wiki.table_prefix, wiki.realm) == (
        WIKI_PASSWORD, "mw_", "enwiki",
    )  # fmt: skip


def test_secrets_never_show(tmp_path: Path) -> None:
    settings = load(tmp_path, FULL)
    text = repr(settings) + repr(describe_settings(settings))
    assert HOOK_KEY not in text and WIKI_PASSWORD not in text
    shown = dict(describe_settings(settings))
    assert shown["actions.webhook.secret"] == "(hidden; from environment variable HOOK_KEY)"
    assert shown["actions.mediawiki.password"] == "(hidden; from environment variable WIKI_PW)"
    assert shown["policy.hard.days"] == "2"
    no_password = load(tmp_path, FULL.replace('password_env = "WIKI_PW"\n', ""))
    assert dict(describe_settings(no_password))["actions.mediawiki.password"] == "(none)"


BAD = [
    ("[policy]\nquiet_days = -1\n", "policy.quiet_days"),
    ("[policy]\nthreshold = 3\n", "policy.threshold"),
    ("[policy.hard]\ndays = 20\nwindow_days = 14\n", "policy.hard.days"),
    ("[policy.breaker]\nmax_action_share = 1.5\n", "policy.breaker.max_action_share"),
    ("[policy.incident]\nmin_users = 1\n", "policy.incident.min_users"),
    ('[actions]\nenabled = ["email"]\n', "actions.enabled"),
    ('[actions]\nenabled = ["suppress", "suppress"]\n', "actions.enabled"),
    ('[actions]\nenabled = ["webhook"]\n', "actions.enabled"),
    ('[actions.webhook]\nurl = "ftp://x/"\nsecret_env = "HOOK_KEY"\n', "actions.webhook.url"),
    ('[actions.webhook]\nurl = "https://x/"\nsecret = "inline-secret-123456"\n',
     "actions.webhook.secret"),
    ('[actions.webhook]\nurl = "https://x/"\nsecret_env = "UNSET"\n', "actions.webhook.secret_env"),
    ('[actions.command]\nargv = []\n', "actions.command.argv"),
    ('[actions.command]\nargv = ["/nonexistent/prog"]\n', "actions.command.argv"),
    ('[actions.command]\nargv = "prog"\n', "actions.command.argv"),
    ('[actions.mediawiki]\nurl = "postgresql://u@h/db"\n', "actions.mediawiki.url"),
    ('[actions.mediawiki]\nurl = "mysql://u:pw@h/db"\n', "actions.mediawiki.url"),
    ('[actions.mediawiki]\nurl = "mysql://u@h/"\n', "actions.mediawiki.url"),
    ('[actions.mediawiki]\nurl = "mysql://u@h/db"\ntable_prefix = "x`; DROP"\n',
     "actions.mediawiki.table_prefix"),
    ('[actions.mediawiki]\nurl = "mysql://u@h/db"\npassword = "pw"\n',
     "actions.mediawiki.password"),
    ('[actions.mediawiki]\ntimeout_seconds = 5\n', "actions.mediawiki.url"),
    ('[actions.mediawiki]\nurl = "mysql://u@{realm}/db"\n', "actions.mediawiki.url"),
    ('[actions.mediawiki]\nurl = "mysql://u@h/{realm}"\nrealm = "enwiki"\n',
     "actions.mediawiki.realm"),
    ('[actions.mediawiki.wikis]\n"en wiki" = "mysql://u@h/enwiki"\n',
     "actions.mediawiki.wikis.en wiki"),
    ('[actions.mediawiki.wikis]\nenwiki = "mysql://u@h/{realm}"\n',
     "actions.mediawiki.wikis.enwiki"),
    ('[actions.mediawiki.wikis]\nenwiki = "mysql://u:pw@h/enwiki"\n',
     "actions.mediawiki.wikis.enwiki"),
    ('[actions.mediawiki]\nurl = "mysql://u@h/db"\ncentralauth_url = "http://h/ca"\n',
     "actions.mediawiki.centralauth_url"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert f": {key}:" in message and "\n" not in message
    assert "inline-secret" not in message


def test_a_farm_of_wikis_with_centralauth(tmp_path: Path) -> None:
    """Issue 15: a URL template, explicit wikis on several hosts, the CentralAuth database."""
    from reconciler.actions.farm import database_for, searchable, unserved

    settings = load(tmp_path, (
        '[actions.mediawiki]\nurl = "mysql://rc@db1:3306/{realm}"\n'
        'centralauth_url = "mysql://rc@db9/centralauth"\n'
        '[actions.mediawiki.wikis]\nZh_Min_NanWikiSource = "mysql://rc@db2/zh_min_nanwikisource"\n'
    )).actions.mediawiki  # fmt: skip
    assert settings is not None
    assert settings.wikis == (("zh_min_nanwikisource", "mysql://rc@db2/zh_min_nanwikisource"),)
    assert settings.centralauth_url == "mysql://rc@db9/centralauth"
    assert database_for(settings, "enwiki") == "mysql://rc@db1:3306/enwiki"
    assert database_for(settings, "zh_min_nanwikisource") == "mysql://rc@db2/zh_min_nanwikisource"
    assert database_for(settings, "") is None and unserved(settings, "") is not None
    assert searchable(settings, ("dewiki",)) == [
        ("dewiki", "mysql://rc@db1:3306/dewiki"),
        ("zh_min_nanwikisource", "mysql://rc@db2/zh_min_nanwikisource"),
    ]
    explicit = dataclasses.replace(settings, url="")  # the wikis table alone: nothing guessed
    assert database_for(explicit, "enwiki") is None
    assert unserved(explicit, "enwiki") == (
        "realm enwiki has no database in [actions.mediawiki] (add it to wikis)"
    )
    one = dataclasses.replace(explicit, url="mysql://rc@db1/wikidb", realm="enwiki")
    assert (database_for(one, "enwiki"), database_for(one, "dewiki")) == (
        "mysql://rc@db1/wikidb",
        None,
    )
    every = dataclasses.replace(one, wikis=(), realm=None)  # one wiki for every realm, as before
    assert database_for(every, "dewiki") == database_for(every, "") == "mysql://rc@db1/wikidb"


# --- probes before acting: [policy] probe, probe_days and the [probe] section -----------------

VERP_KEYS = (
    '[verp]\ndomain = "bounces.example.org"\n[[verp.keys]]\nid = "a"\nsecret_env = "HOOK_KEY"\n'
)
PROBES = '[policy]\nprobe = true\n[probe]\nsender = "noreply@example.org"\n' + VERP_KEYS


def test_probes_load_with_their_defaults_and_hide_the_password(tmp_path: Path) -> None:
    settings = load(tmp_path, PROBES)
    assert (settings.policy.probe, settings.policy.probe_days) == (True, 3)
    assert settings.probe == ProbeSettings(sender="noreply@example.org")
    text = PROBES.replace('sender = "noreply@example.org"\n', 'sender = "noreply@example.org"\n'
                          'tls = true\nusername = "probe"\npassword_env = "WIKI_PW"\n'
                          'smtp_host = "smtp.example.org"\n')  # fmt: skip
    tls = load(tmp_path, text)
    assert tls.probe.smtp == SmtpSettings(
        smtp_host="smtp.example.org", smtp_port=465, starttls=False, tls=True, username="probe",
        password=WIKI_PASSWORD, password_env="WIKI_PW",
    )  # fmt: skip
    shown = dict(describe_settings(tls))
    assert shown["probe.password"] == "(hidden; from environment variable WIKI_PW)"
    assert shown["probe.smtp_port"] == "465" and WIKI_PASSWORD not in repr(tls)
    assert "probe.sender" not in dict(describe_settings(load(tmp_path, VERP_KEYS)))


PROBE_BAD = [
    ("[policy]\nprobe = true\n" + VERP_KEYS, "probe.sender"),
    ('[policy]\nprobe = true\n[probe]\nsender = "noreply@example.org"\n', "policy.probe"),
    (PROBES.replace("probe = true", "probe = true\nprobe_days = 20"), "policy.probe_days"),
    (PROBES.replace("probe = true", "probe = true\nprobe_days = 0"), "policy.probe_days"),
    (PROBES.replace("noreply@", "noreply"), "probe.sender"),
    (PROBES.replace("[probe]\n", "[probe]\ntls = true\nstarttls = true\n"), "probe.tls"),
    (PROBES.replace("[probe]\n", '[probe]\nsmtp_host = "smtp.example.org"\nstarttls = false\n'
                    'username = "u"\npassword_env = "WIKI_PW"\n'), "probe.starttls"),
    (PROBES.replace("[probe]\n", '[probe]\npassword = "inline-secret-1"\n'), "probe.password"),
    (PROBES.replace("[probe]\n", '[probe]\nsubject = "two\\nlines"\n'), "probe.subject"),
    (PROBES.replace("[probe]\n", "[probe]\nsmtp_port = 0\n"), "probe.smtp_port"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key"), PROBE_BAD)
def test_bad_probe_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert f": {key}:" in message and "\n" not in message
    assert "inline-secret" not in message
