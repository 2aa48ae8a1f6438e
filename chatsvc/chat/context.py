"""Everything a use case needs, built once per process by create_app()."""
from chatsvc.config import Config
from chatsvc.chat.events import Publisher
from chatsvc.chat.send import MessageSender
from chatsvc.chat.state import TeamStates
from chatsvc.ids import SnowflakeGenerator
from chatsvc.chat.tokens import TokenCache
from chatsvc.ratelimit import TokenBucket
from chatsvc.throttle import Throttles
from chatsvc.store import BulkWriter, Engine


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
        self.sender = MessageSender(self)

    def new_id(self) -> str:
        return str(self.ids.next_id())
