"""The user's own training code, named `pkg.module:attr`, as one fit function (`synod worker run --trainer`).

attr is one of:
- a fit function shaped like Flower's `NumPyClient.fit`: fit(parameters, config) returning
  (new parameters, number of examples, metrics);
- a Flower `flwr.client.NumPyClient`: an instance, a subclass (made with no arguments) or a
  zero-argument factory returning one. Its own `fit` is called unchanged; `get_parameters` is not
  needed, because Synod supplies the global model.

The module is imported from the working directory first, then the installed packages, the way
`python -m` finds it. Nothing here checks what fit returns: app/agents/custom_training.py does.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from numpy.typing import NDArray

if TYPE_CHECKING:
    from app.ml.datasets import Shard

__all__ = [
    "ConfigValue",
    "FitFunction",
    "TrainerLoadError",
    "UserTrainer",
    "load_fit_data",
    "load_trainer",
    "resolve_trainer",
]

# Flower's Scalar: what a config or metrics value may be.
ConfigValue = bool | bytes | float | int | str
FitFunction = Callable[[list[NDArray[Any]], dict[str, ConfigValue]], Any]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_SPEC = re.compile(rf"(?P<module>{_NAME}(?:\.{_NAME})*):(?P<attr>{_NAME}(?:\.{_NAME})*)")


class TrainerLoadError(Exception):
    """--trainer names no module, no attribute, or something that is not a fit function or NumPyClient."""


@dataclass(frozen=True)
class UserTrainer:
    """The user's fit function and a name for it in messages."""

    fit: FitFunction
    name: str


def load_trainer(spec: str) -> UserTrainer:
    """Import `pkg.module:attr` and resolve attr to a fit function."""
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise TrainerLoadError(
            f"trainer {spec!r} is not of the form pkg.module:attr (e.g. my_training:fit, "
            "examples.flower_client.client:DigitsClient)"
        )
    module_name, attr = match["module"], match["attr"]
    module = _import(module_name)
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            owner = getattr(target, "__name__", type(target).__name__)
            raise TrainerLoadError(f"trainer {spec!r}: {owner!r} has no attribute {part!r}")
        target = getattr(target, part)
    return resolve_trainer(target, spec)


def _import(module_name: str) -> Any:
    """The module, looked up in the working directory first; a clear error if it is missing or fails."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name + ".").startswith(e.name + "."):  # it, or a parent
            raise TrainerLoadError(
                f"trainer module {module_name!r} not found in {cwd} or the installed packages "
                f"(no module {e.name!r}); run from the directory that holds it or install it"
            ) from None
        raise TrainerLoadError(f"importing trainer module {module_name!r} failed: {e}") from None
    except Exception as e:  # the user's module raised while it was imported
        raise TrainerLoadError(
            f"importing trainer module {module_name!r} failed: {type(e).__name__}: {e}"
        ) from None


def resolve_trainer(target: object, name: str | None = None) -> UserTrainer:
    """A fit function, a NumPyClient (instance, subclass or zero-argument factory) as a UserTrainer."""
    label = name or getattr(target, "__qualname__", type(target).__qualname__)
    client_class = _numpy_client_class()
    if isinstance(target, type):
        if client_class is None or not issubclass(target, client_class):
            raise TrainerLoadError(f"trainer {label}: the class {target.__qualname__} is not a NumPyClient")
        return UserTrainer(_client_fit(_make(target, label), label, client_class), label)
    if client_class is not None and isinstance(target, client_class):
        return UserTrainer(_client_fit(target, label, client_class), label)
    if not callable(target):
        raise TrainerLoadError(
            f"trainer {label}: a {type(target).__name__} is neither a fit function nor a NumPyClient"
        )
    required = _required_positional(target, label)
    if required == 0:  # a factory
        made = _make(target, label)
        client_class = _numpy_client_class()  # the factory's module may import flwr only now
        if client_class is None or not isinstance(made, client_class):
            raise TrainerLoadError(
                f"trainer {label}: takes no arguments, so it should return a NumPyClient, "
                f"but returned a {type(made).__name__}"
            )
        return UserTrainer(_client_fit(made, label, client_class), label)
    if required != 2:
        raise TrainerLoadError(
            f"trainer {label}: a fit function takes (parameters, config), but this one needs "
            f"{required} arguments"
        )
    return UserTrainer(target, label)  # type: ignore[arg-type]  # callable with two arguments


def _numpy_client_class() -> type | None:
    """flwr's NumPyClient if flwr is loaded (any NumPyClient's module has imported it), else None."""
    if "flwr" not in sys.modules:
        return None
    from flwr.client import NumPyClient

    return NumPyClient


def _required_positional(target: Callable[..., Any], label: str) -> int:
    """How many arguments target needs (those without defaults), positional or not."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        raise TrainerLoadError(f"trainer {label}: cannot read its signature") from None
    return sum(
        1
        for p in parameters
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def _make(factory: Callable[[], object], label: str) -> object:
    """Call a class or factory with no arguments; its failure is a load error."""
    try:
        return factory()
    except Exception as e:
        raise TrainerLoadError(
            f"trainer {label}: making the client failed: {type(e).__name__}: {e}"
        ) from None


def _client_fit(client: object, label: str, client_class: type) -> FitFunction:
    """The NumPyClient's own fit, refusing a client that does not override it (Flower's returns nothing)."""
    if type(client).fit is client_class.fit:  # type: ignore[attr-defined]
        raise TrainerLoadError(f"trainer {label}: {type(client).__qualname__} does not implement fit")
    fit: FitFunction = client.fit  # type: ignore[attr-defined]
    return fit


def load_fit_data(config: Mapping[str, ConfigValue]) -> Shard:
    """The worker's rows for user code: config["data"] (its --data) read through config["schema"],
    the task's schema, so they are the rows Synod's own loop would train on (the task's columns in
    its order, its label names, its standardization). DatasetError naming what is wrong."""
    from app.ml.datasets import DatasetError, load_shard
    from app.ml.schema import TaskSchema

    if "data" not in config:
        raise DatasetError("this worker was started without --data: there are no rows to load")
    schema = TaskSchema.from_json(str(config["schema"])) if "schema" in config else None
    return load_shard(str(config["data"]), schema)
