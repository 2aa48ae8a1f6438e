"""The administration commands exit cleanly (no teardown noise from gevent)."""
import os
import subprocess

from tests.conftest import ROOT


def test_cli_help_exits_without_exception_ignored(engine_url, index_prefix):
    flask = os.path.join(ROOT, ".venv", "bin", "flask")
    env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=index_prefix)
    for args in (["chatsvc", "export", "--help"], ["chatsvc", "--help"], ["chatsvc", "init-indices"]):
        result = subprocess.run([flask, "--app", "wsgi"] + args, cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "Exception ignored" not in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
