"""Everything a use case needs, built once per process by create_app()."""
from chatsvc.config import Config
from chatsvc.chat.events import Publisher
from chatsvc.chat.message_writes import MessageWrites
from chatsvc.chat.send import MessageSender
from chatsvc.chat.state import TeamStates
from chatsvc.ids import SnowflakeGenerator
from chatsvc.chat.tokens import TokenCache
from chatsvc.ratelimit import TokenBucket
from chatsvc.throttle import Throttles
from chatsvc.store import BulkWriter, Engine
from chatsvc.blobs import make_blob_store
from chatsvc.chat import file_urls


class ChatContext:
    def __init__(self, config: Config, engine: Engine, publisher: Publisher):
        self.config = config
        self.engine = engine
        self.publisher = publisher
        self.ids = SnowflakeGenerator(config.worker_id)
        self.bulk = BulkWriter(engine, config.bulk_delay_ms, config.bulk_max_items)
        self.teams = TeamStates(engine, config.tail_size, config.cache_mb)
        self.tokens = TokenCache(config.token_cache_size)  # token hash -> CachedToken
        self.throttles = Throttles(config)
        self.send_limits: dict[str, TokenBucket] = {}  # sender id -> her bucket
        self.typing_seen: dict[tuple, float] = {}       # (user, chat) -> last typing event
        self.message_writes = MessageWrites()   # writes under way per message (chat/message_writes.py)
        self.sender = MessageSender(self)
        # files and avatars (issue 14): the blob store, signed URLs, text extraction jobs
        self.blobs = make_blob_store(config)
        file_urls.configure(config.secret, config.file_url_ttl, config.avatar_url_bucket)
        from chatsvc.chat.file_text import FileTextJobs  # noqa: PLC0415
        self.file_text = FileTextJobs(self)

    def new_id(self) -> str:
        return str(self.ids.next_id())
