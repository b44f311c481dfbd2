"""Caches of workspace settings: Redis across processes, a dict within one."""
