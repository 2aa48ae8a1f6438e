"""Configuration from CHATSVC_* variables: good values load, nonsense stops the process with
a message naming the variable."""
import os
import subprocess
import sys

import pytest

from chatsvc.config import Config, ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_defaults_without_any_variable():
    config = Config.from_env({})
    assert config.search_url == "http://127.0.0.1:9200"
    assert config.index_prefix == "chatsvc"
    assert config.auth_timeout == 10
    assert config.heartbeat_timeout == 60
    assert config.max_frame_bytes == 64 * 1024
    assert config.presence_grace == 5


def test_good_values_are_accepted_and_typed():
    config = Config.from_env({
        "CHATSVC_SEARCH_URL": "https://search.internal:9243/",
        "CHATSVC_INDEX_PREFIX": "prod_eu-1",
        "CHATSVC_SECRET": "s" * 32,
        "CHATSVC_PRESENCE_GRACE": "2.5",
        "CHATSVC_HEARTBEAT_TIMEOUT": " 30 ",
        "CHATSVC_OUTBOX_SIZE": "50",
        "CHATSVC_FRAME_RATE": "5",
        "CHATSVC_INDEX_REPLICAS": "0",
        "CHATSVC_WORKER_ID": "1023",
        "UNRELATED": "ignored",
    })
    assert config.search_url == "https://search.internal:9243"  # trailing slash dropped
    assert config.index_prefix == "prod_eu-1"
    assert config.secret == "s" * 32
    assert config.presence_grace == 2.5
    assert config.heartbeat_timeout == 30.0
    assert config.outbox_size == 50 and isinstance(config.outbox_size, int)
    assert config.worker_id == 1023


def test_empty_value_means_default():
    assert Config.from_env({"CHATSVC_INDEX_PREFIX": ""}).index_prefix == "chatsvc"


@pytest.mark.parametrize("name, value, hint", [
    ("CHATSVC_SEARCH_URL", "localhost:9200", "URL"),
    ("CHATSVC_SEARCH_URL", "ftp://127.0.0.1:9200", "URL"),
    ("CHATSVC_SEARCH_URL", "http://", "URL"),
    ("CHATSVC_SEARCH_URL", "not a url", "URL"),
    ("CHATSVC_INDEX_PREFIX", "Chat", "lowercase"),
    ("CHATSVC_INDEX_PREFIX", "chat/svc", "lowercase"),
    ("CHATSVC_INDEX_PREFIX", "-chat", "starting"),
    ("CHATSVC_INDEX_PREFIX", "chat svc", "lowercase"),
    ("CHATSVC_INDEX_PREFIX", "x" * 41, "1-40"),
    ("CHATSVC_SECRET", "short", "16"),
    ("CHATSVC_PRESENCE_GRACE", "-1", "between"),
    ("CHATSVC_HEARTBEAT_TIMEOUT", "0", "between"),
    ("CHATSVC_AUTH_TIMEOUT", "soon", "float"),
    ("CHATSVC_OUTBOX_SIZE", "ten", "int"),
    ("CHATSVC_OUTBOX_SIZE", "2.5", "int"),
    ("CHATSVC_OUTBOX_SIZE", "1", "between"),
    ("CHATSVC_WORKER_ID", "1024", "between"),
    ("CHATSVC_INDEX_SHARDS", "0", "between"),
    ("CHATSVC_MAX_FRAME_BYTES", "-65536", "between"),
    ("CHATSVC_FRAME_RATE", "nan", "between"),
    ("CHATSVC_ENGINE_TIMEOUT", "inf", "between"),
])
def test_nonsense_is_rejected_naming_the_variable(name, value, hint):
    with pytest.raises(ConfigError) as info:
        Config.from_env({name: value})
    message = str(info.value)
    assert name in message, message
    assert repr(value) in message or value in message, message
    assert hint in message, message


def test_server_refuses_to_start_on_bad_config():
    """The process itself stops at start-up with the variable's name on its last words."""
    env = dict(os.environ, CHATSVC_INDEX_PREFIX="Bad/Prefix")
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "CHATSVC_INDEX_PREFIX" in result.stderr
    assert "ConfigError" in result.stderr
