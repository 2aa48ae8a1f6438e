"""The administration commands exit cleanly (no teardown noise from gevent)."""
import os
import subprocess

from tests.conftest import ROOT


def test_cli_help_exits_without_exception_ignored():
    flask = os.path.join(ROOT, ".venv", "bin", "flask")
    for args in (["chatsvc", "export", "--help"], ["chatsvc", "--help"]):
        result = subprocess.run([flask, "--app", "wsgi"] + args, cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "Exception ignored" not in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
