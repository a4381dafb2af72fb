"""Search strategies (ask/tell) and their registry.

Built-ins: ``evolution`` (TNAS-ER/SPOS), ``random_search`` (best of N), ``random_sampling`` (N random
architectures, no selection) and ``exhaustive``. Register more with
[`register_strategy`][ttfsnet_nas.strategies.register_strategy].
"""

from ttfsnet_nas.strategies.base import (
    Strategy,
    StrategyError,
    Trial,
    create_strategy,
    get_strategy,
    list_strategies,
    register_strategy,
)
from ttfsnet_nas.strategies.evolution import Evolution
from ttfsnet_nas.strategies.random_search import Exhaustive, RandomSampling, RandomSearch
from ttfsnet_nas.strategies.selection import (
    crowding_distance,
    dominates,
    non_dominated_sort,
    select_nsga2,
    select_top,
)

__all__ = [
    "Evolution",
    "Exhaustive",
    "RandomSampling",
    "RandomSearch",
    "Strategy",
    "StrategyError",
    "Trial",
    "create_strategy",
    "crowding_distance",
    "dominates",
    "get_strategy",
    "list_strategies",
    "non_dominated_sort",
    "register_strategy",
    "select_nsga2",
    "select_top",
]
