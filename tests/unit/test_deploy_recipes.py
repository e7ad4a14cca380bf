"""The service recipes in deploy/ run the command qbedi really has, stop it the way it stops cleanly,
and leave log rotation to a method qbedi supports."""
import configparser
import re
import shlex

from qbedi.cli import build_parser
from tests.support import REPO

DEPLOY = REPO / "deploy"


def test_the_systemd_unit_runs_qbedi_run_and_stops_it_with_sigterm():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((DEPLOY / "qbedi.service").read_text())
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/qbedi") and argv[1] == "run"
    args = build_parser().parse_args(argv[1:])  # the options exist
    assert args.command == "run" and args.config.endswith("qbedi.yaml")
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 60
    assert service["Restart"] == "on-failure"
    assert service["WorkingDirectory"] in service["ReadWritePaths"]


def test_the_windows_recipes_run_qbedi_run():
    text = (DEPLOY / "windows-service.md").read_text()
    arguments = re.search(r"<arguments>(.*?)</arguments>", text).group(1)
    assert build_parser().parse_args(arguments.split()).command == "run"
    nssm = re.search(r"nssm install qbedi \S+ (run --config \S+)`", text).group(1)
    assert build_parser().parse_args(nssm.split()).command == "run"


def test_logrotate_moves_the_file_away_which_qbedi_reopens():
    text = (DEPLOY / "logrotate.conf").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "copytruncate" not in body and "rotate" in body
