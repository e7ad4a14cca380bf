"""No tracebacks for a person's mistake, output a clerk can read (issue 10), through the real `qbedi`
command: a port already taken, secrets piped in, output cut short by `head`, an unreachable Cleo, `serve`
stopped by SIGTERM, and a help text on every option."""
from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from connector.credentials import CredentialStore, generate_key_file
from connector.passwords import verify_password
from connector.settings import load_settings
from tests.support import DATA
from tests.support.builders import write_config
from tests.support.processes import serving

EXE = str(Path(sys.executable).with_name("qbedi"))


def _env(env=None) -> dict:
    run_env = dict(os.environ)
    for name in ("QBEDI_CONFIG", "QBEDI_QBWC_PASSWORD", "QBEDI_SECRET_KEY", "QBEDI_SECRET_KEY_FILE"):
        run_env.pop(name, None)  # (a test that wants one passes it in env)
    return {**run_env, **(env or {})}


def qbedi(*args, cwd=None, env=None, input=None, timeout=120) -> subprocess.CompletedProcess:
    """The real command, detached from any terminal (a new session: /dev/tty cannot be opened, as under
    cron, a service manager or a CI runner), so a prompt can never wait on the test's own terminal."""
    p = subprocess.run([EXE, *args], cwd=cwd, env=_env(env), input=input, capture_output=True, text=True,
                       timeout=timeout, start_new_session=True)
    assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- 1. a port already in use

@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_port_in_use_is_one_line_saying_what_to_do(tmp_path, db_url, command):
    cfg = write_config(tmp_path, db_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = qbedi(command, "--config", str(cfg), "--port", str(port), timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    [line] = [ln for ln in p.stderr.splitlines() if "in use" in ln]
    assert f"port {port}" in line and "another qbedi" in line
    assert "--port" in line and "web_connector.listen.port" in line


# ---------------------------------------------------------------- 2. secrets from a pipe

def test_hash_password_reads_a_piped_password(tmp_path):
    p = qbedi("hash-password", input="s3cret pw\n")
    assert p.returncode == 0, p.stderr
    [line] = p.stdout.splitlines()
    assert verify_password("s3cret pw", line)
    assert "echoed" not in p.stderr and "Warning" not in p.stderr and "s3cret" not in p.stderr


def test_hash_password_refuses_when_the_environment_and_a_pipe_give_two_passwords():
    """Seen: with $QBEDI_QBWC_PASSWORD set (as the README's init step leaves it), `echo web-pw | qbedi
    hash-password` silently hashed the Web Connector's password, and the web user could not sign in."""
    env = {"QBEDI_QBWC_PASSWORD": "qbwc-pw"}
    p = qbedi("hash-password", input="web-pw\n", env=env)
    assert p.returncode == 2 and p.stdout == "" and "QBEDI_QBWC_PASSWORD" in p.stderr and "web-pw" not in p.stderr
    p = qbedi("hash-password", input="", env=env)
    assert p.returncode == 0 and verify_password("qbwc-pw", p.stdout.strip()) and "unset it" in p.stderr


@pytest.mark.parametrize("piped", ["", "\n"])
def test_hash_password_with_nothing_piped_says_so(piped):
    p = qbedi("hash-password", input=piped)
    assert p.returncode == 2 and not p.stdout
    assert "no password" in p.stderr and "standard input" in p.stderr, p.stderr


def test_hash_password_on_a_terminal_prompts_without_echo():
    """With a terminal the password is still asked for, and what is typed is not shown."""
    pty = pytest.importorskip("pty")  # POSIX terminals
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child: becomes qbedi at once
        os.execve(EXE, [EXE, "hash-password"], _env())
    try:
        out = _read_until(fd, lambda buf: b"password: " in buf)
        assert b"Web Connector password: " in out
        os.write(fd, b"typed-secret\n")
        out += _read_until(fd, lambda buf: False)  # to the end: qbedi exits
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0 and b"scrypt$" in out
    assert b"typed-secret" not in out and b"Traceback" not in out


def _read_until(fd, done, timeout: float = 30) -> bytes:
    """What the program writes to its terminal, until ``done(buf)`` or it closes the terminal."""
    buf, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline and not done(buf):
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child exited
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_credentials_set_reads_user_and_password_from_a_pipe(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    assert "two lines" in qbedi("credentials", "--help").stdout
    p = qbedi("credentials", "set", "cleo", "--config", str(cfg), input="api-user\nPw with spaces 1\n")
    assert p.returncode == 0, p.stderr
    assert "stored credentials 'cleo'" in p.stdout and "Pw with spaces" not in p.stdout + p.stderr
    assert "echoed" not in p.stderr and "Warning" not in p.stderr
    creds = CredentialStore.for_settings(load_settings(cfg)).get("cleo")
    assert creds.username == "api-user" and creds.password.reveal() == "Pw with spaces 1"


@pytest.mark.parametrize("piped, words", [("", "no user name"), ("api-user\n", "no password"),
                                          ("api-user\n\n", "no password")])
def test_credentials_set_with_too_little_piped_says_what_is_missing(tmp_path, db_url, piped, words):
    cfg = write_config(tmp_path, db_url)
    p = qbedi("credentials", "set", "cleo", "--config", str(cfg), input=piped)
    assert p.returncode == 2 and words in p.stderr and "two lines" in p.stderr, p.stderr
    assert not (tmp_path / "credentials.enc").exists()


# ---------------------------------------------------------------- 3. output cut short (| head)

def test_output_cut_short_by_head_is_a_quiet_exit(tmp_path):
    invoice = str(DATA / "x12" / "acme_INV-10045.edi")
    proc = subprocess.Popen([EXE, "translate", "--json", *[invoice] * 300], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        head = proc.stdout.read(10)  # `| head -c 10`
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert head.startswith(b"{")
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert err.strip() == "" and proc.returncode == 1


# ---------------------------------------------------------------- 4. an unreachable Cleo

def _cleo_workspace(tmp_path, db_url, port: int) -> Path:
    path = write_config(tmp_path, db_url)
    cfg = yaml.safe_load(path.read_text())
    cfg["sources"].append({"name": "cleo", "type": "cleo", "base_url": f"https://127.0.0.1:{port}/api",
                           "connections": ["ACME"], "connect_timeout": 2, "read_timeout": 2, "retries": 0})
    path.write_text(yaml.safe_dump(cfg))
    key = generate_key_file(tmp_path / "qbedi.key")
    CredentialStore(tmp_path / "credentials.enc", key).set("cleo", "qbedi-api", "cleo-pass-123")
    return path


def test_test_connection_says_what_it_checks_before_waiting_on_a_silent_cleo(tmp_path, db_url):
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        cfg = _cleo_workspace(tmp_path, db_url, port)
        started = time.monotonic()
        proc = subprocess.Popen([EXE, "test-connection", "--config", str(cfg)], env=_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            seen, err_lines = threading.Event(), []

            def read_err():
                for line in proc.stderr:
                    err_lines.append(line)
                    if "checking source cleo" in line:
                        seen.set()

            reader = threading.Thread(target=read_err, daemon=True)
            reader.start()
            assert seen.wait(30), "test-connection should say what it checks: " + "".join(err_lines)
            assert proc.poll() is None, "the message should come before the wait, not after"
            out = proc.stdout.read()
            proc.wait(timeout=60)
            reader.join(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    elapsed = time.monotonic() - started
    err = "".join(err_lines)
    assert f"checking source cleo (https://127.0.0.1:{port}/api) ..." in err
    assert "checking source inbox" in err
    assert "Traceback" not in out + err and proc.returncode == 1 and elapsed < 30, out + err
    [verdict] = [ln for ln in out.splitlines() if ln.startswith("source cleo:")]
    assert "FAILED" in verdict and f"127.0.0.1:{port}" in verdict
    assert [ln for ln in out.splitlines() if ln.startswith("source inbox:")] == ["source inbox: OK, 0 file(s) waiting"]
    assert "{" not in out  # words, not a JSON dump


def test_test_connection_to_a_closed_port_is_one_verdict_per_source_and_json_too(tmp_path, db_url):
    port = free_port()  # nothing listens there
    cfg = _cleo_workspace(tmp_path, db_url, port)
    p = qbedi("test-connection", "--config", str(cfg), timeout=60)
    assert p.returncode == 1
    assert [ln.split(":")[0] for ln in p.stdout.splitlines() if ln.startswith("source ")] == \
        ["source inbox", "source cleo"]
    assert "checking source cleo" in p.stderr and "checking source cleo" not in p.stdout
    p = qbedi("test-connection", "--json", "--config", str(cfg), timeout=60)
    report = json.loads(p.stdout)  # nothing but the report on standard output
    assert [(s["name"], s["ok"]) for s in report["sources"]] == [("inbox", True), ("cleo", False)]


# ---------------------------------------------------------------- 5. serve stops on SIGTERM

def test_qbedi_serve_stops_cleanly_on_sigterm(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url)
    with serving("serve", cfg, env=_env()) as serve:
        code, out = serve.stop()
    assert code == 0 and "Traceback" not in out, out
    assert "qbwc.stopped" in out


# ---------------------------------------------------------------- 6. help, --json and --config everywhere

READ_COMMANDS = {"documents", "files", "show", "status", "poll", "translate", "test-connection", "ack"}
NO_WORKSPACE = {"demo", "init", "hash-password"}  # make a workspace, or need none


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    from qbedi.cli import build_parser

    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_of_every_command_has_a_help_text():
    missing = [f"qbedi {name} {'/'.join(a.option_strings) or a.dest}"
               for name, sp in _subcommands().items() for a in sp._actions
               if not isinstance(a, argparse._HelpAction) and (not a.help or a.help == argparse.SUPPRESS)]
    assert not missing, f"options without a help text: {missing}"


def test_read_commands_take_json_and_workspace_commands_take_config():
    commands = _subcommands()
    assert READ_COMMANDS <= set(commands)

    def options(name):
        return {o for a in commands[name]._actions for o in a.option_strings}

    assert [n for n in sorted(READ_COMMANDS) if "--json" not in options(n)] == []
    assert [n for n in sorted(set(commands) - NO_WORKSPACE) if "--config" not in options(n)] == []


def test_ack_json_gives_each_files_997(tmp_path):
    invoice = str(DATA / "x12" / "acme_INV-10045.edi")
    p = qbedi("ack", "--json", invoice, str(tmp_path / "missing.edi"))
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["acks"][0]["file"] == invoice and out["acks"][0]["x12"].startswith("ISA")
    assert out["errors"][0]["file"].endswith("missing.edi") and "cannot read" in out["errors"][0]["message"]


def test_numbers_too_big_for_the_database_are_refused_in_words(tmp_path, db_url, capsys):
    """Seen: `qbedi show 99999999999999999999` printed an OverflowError traceback (and exited 0)."""
    import pytest

    from qbedi.cli import main
    from tests.support.builders import write_config

    cfg = str(write_config(tmp_path, db_url))
    for argv in (["show", "99999999999999999999"], ["approve", "99999999999999999999"],
                 ["release", "-5"], ["documents", "--limit", "99999999999999999999"]):
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--config", cfg])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "Traceback" not in err and ("not a document number" in err
                                                                    or "not a number of rows" in err), err
