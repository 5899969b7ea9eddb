"""The queue API producers and operators use: ``Queue`` (asyncio) and ``SyncQueue``.

Every call is one Lua script (or one pipelined batch of them) from ``engine.scripts``.
"""
