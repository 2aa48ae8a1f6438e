"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""
from gevent import monkey

monkey.patch_all()

from chatsvc import create_app  # noqa: E402  (after monkey patching, by design)

app = create_app()
