"""ttfsnet_nas: one-shot evolutionary neural architecture search for TTFS spiking networks.

The core (this package outside ``ttfsnet_nas.torch`` and ``ttfsnet_nas.emotion``) needs only numpy, pyyaml,
typer and rich; it never imports torch.

Main entry points:

* [`SearchSpace`][ttfsnet_nas.SearchSpace], [`Architecture`][ttfsnet_nas.Architecture] – categorical genes and
  the canonical encoding.
* [`create_strategy`][ttfsnet_nas.create_strategy] / [`register_strategy`][ttfsnet_nas.register_strategy] –
  ask/tell strategies (``evolution``, ``random_search``, ``random_sampling``, ``exhaustive``).
* [`Fitness`][ttfsnet_nas.Fitness], [`register_objective`][ttfsnet_nas.register_objective] – objectives,
  scalar / power / Pareto fitness, constraints.
* [`run_search`][ttfsnet_nas.run_search], [`SearchSession`][ttfsnet_nas.SearchSession] – journaled, resumable
  search driver.
* [`write_artifact`][ttfsnet_nas.write_artifact], [`read_artifact`][ttfsnet_nas.read_artifact] – exported
  artifacts.
* [`Stage`][ttfsnet_nas.Stage], [`StageRunner`][ttfsnet_nas.StageRunner] – resumable stages with fingerprints
  and completion markers.
* [`register_pipeline`][ttfsnet_nas.register_pipeline] – recipe ``type`` → pipeline used by the
  ``ttfsnet-nas`` CLI.
* [`NASError`][ttfsnet_nas.NASError] (base of every error raised here), [`InputError`][ttfsnet_nas.InputError]
  (bad user input; CLI exit 2).
"""

from ttfsnet_nas.artifact import Artifact, read_artifact, write_artifact
from ttfsnet_nas.config import RecipeError, from_dict, from_yaml, param, register_config_type, write_yaml
from ttfsnet_nas.errors import InputError, NASError, PipelineError
from ttfsnet_nas.fitness import ConstraintSpec, Fitness, Score
from ttfsnet_nas.journal import Journal, RngHook, atomic_write_json, atomic_write_text, read_journal
from ttfsnet_nas.objectives import EvalContext, Objective, get_objective, list_objectives, register_objective
from ttfsnet_nas.pipelines import Pipeline, get_pipeline, load_recipe, register_pipeline
from ttfsnet_nas.progress import NullProgress, Progress
from ttfsnet_nas.search import SearchConfig, SearchResult, SearchSession, result_from_journal, run_search
from ttfsnet_nas.space import Architecture, CostBound, SearchSpace
from ttfsnet_nas.stages import Stage, StageRunner
from ttfsnet_nas.strategies import Strategy, Trial, create_strategy, list_strategies, register_strategy

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "Artifact",
    "ConstraintSpec",
    "CostBound",
    "EvalContext",
    "Fitness",
    "InputError",
    "Journal",
    "NASError",
    "NullProgress",
    "Objective",
    "Pipeline",
    "PipelineError",
    "Progress",
    "RecipeError",
    "RngHook",
    "Score",
    "SearchConfig",
    "SearchResult",
    "SearchSession",
    "SearchSpace",
    "Stage",
    "StageRunner",
    "Strategy",
    "Trial",
    "__version__",
    "atomic_write_json",
    "atomic_write_text",
    "create_strategy",
    "from_dict",
    "from_yaml",
    "get_objective",
    "get_pipeline",
    "list_objectives",
    "list_strategies",
    "load_recipe",
    "param",
    "read_artifact",
    "read_journal",
    "register_config_type",
    "register_objective",
    "register_pipeline",
    "register_strategy",
    "result_from_journal",
    "run_search",
    "write_artifact",
    "write_yaml",
]
