"""The engine client of a command-line job (export, import, retention, scheduled exports)."""
from chatsvc.store import Engine


def job_engine(app, timeout: float = 60.0) -> Engine:
    """An engine client of its own for a job: its requests are few and big, so each may
    take longer than the service's (CHATSVC_ENGINE_TIMEOUT); a few connections suffice."""
    config = app.config["CHATSVC"]
    return Engine(config.search_url, config.index_prefix, pool_size=4,
                  timeout=max(config.engine_timeout, timeout), shards=config.index_shards,
                  replicas=config.index_replicas)
