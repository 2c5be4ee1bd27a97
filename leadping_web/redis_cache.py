"""Django's RedisCache, with one redis-py client per connection pool instead of one per call.

Django's RedisCacheClient builds a new `redis.Redis` (and its table of response callbacks) for
every cache operation; on a cached event page that was about a third of the desk's CPU. A
`redis.Redis` is safe to share between threads (each command borrows a connection from the
pool), so one per pool is enough. Everything else is Django's.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: str | None = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def add_then_get(
        self, add_key: str, value: Any, timeout: int, get_key: str, *, version: int | None = None
    ) -> tuple[bool, Any]:
        """add(add_key) and, after it, get(get_key), in one round trip: (added, value got).

        `timeout` is in whole seconds, at least 1.
        """
        added_key = self.make_and_validate_key(add_key, version=version)
        got_key = self.make_and_validate_key(get_key, version=version)
        client = self._cache.get_client(write=True)
        serializer = self._cache._serializer
        with client.pipeline(transaction=False) as pipe:
            pipe.set(added_key, serializer.dumps(value), ex=max(1, int(timeout)), nx=True)
            pipe.get(got_key)
            added, raw = pipe.execute()
        return bool(added), None if raw is None else serializer.loads(raw)
