"""`synod tx task ...`: post, join, commit to, reveal and cancel federated-learning tasks.

Transactions are signed by --from (a key name or address in --home's keyring), like the other
`synod tx` commands; their gas defaults to an estimate from the message size (reveals and posts
carry model vectors), and --gas overrides it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from app.agents.updatefile import UpdateFileError, read_update_file
from app.client.sender import compute_gas_limit
from app.client.tasks import TasksClient
from app.client.tasktx import SALT_LEN, msg_cancel, msg_commit, msg_join, post_task_gas, reveal_messages
from app.core.architectures import model_param_count
from cli.common import client_errors, from_option, load_key, resolve_node, send_tx, tx_options

__all__ = ["task_tx"]


@click.group("task")
def task_tx() -> None:
    """Post, join, commit to, reveal and cancel learning tasks."""


class _Shape(click.ParamType):
    """A comma-separated list of sizes, like 8,8,1 (a model's input_shape)."""

    name = "H,W,C"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        """Return the sizes, failing with click's usage error for anything but positive integers."""
        if isinstance(value, list):
            return value
        parts = str(value).split(",")
        if not all(part.strip().isdigit() and int(part) > 0 for part in parts):
            self.fail(f"{value!r} is not a list of positive sizes like 8,8,1", param, ctx)
        return [int(part) for part in parts]


_POST_FLAGS: list[tuple[str, tuple[str, ...], type | click.ParamType]] = [
    ("--description", ("description",), str),
    ("--dataset", ("dataset",), str),
    ("--arch", ("model", "arch"), str),
    ("--input-shape", ("model", "input_shape"), _Shape()),
    ("--optimizer", ("hyper", "optimizer"), str),
    ("--learning-rate", ("hyper", "learning_rate"), click.FloatRange(0, min_open=True)),
    ("--batch-size", ("hyper", "batch_size"), click.IntRange(1)),
    ("--local-epochs", ("hyper", "local_epochs"), click.IntRange(1)),
    ("--rounds", ("schedule", "rounds"), click.IntRange(1)),
    ("--join-blocks", ("schedule", "join_blocks"), click.IntRange(1)),
    ("--commit-blocks", ("schedule", "commit_blocks"), click.IntRange(1)),
    ("--reveal-blocks", ("schedule", "reveal_blocks"), click.IntRange(1)),
    ("--score-blocks", ("schedule", "score_blocks"), click.IntRange(0)),
    ("--trace-every", ("trace", "every_steps"), click.IntRange(0)),
    ("--min-workers", ("workers", "min"), click.IntRange(1)),
    ("--max-workers", ("workers", "max"), click.IntRange(1)),
    ("--stake", ("workers", "stake"), str),
    ("--reward", ("reward",), str),
    ("--rule", ("aggregation", "rule"), str),
    # The owner's own data (app/agents/taskspec.py): evaluation rows published as a blob.
    ("--eval-data", ("data", "eval"), click.Path(exists=True)),
    ("--label", ("data", "label"), str),
    ("--labels", ("data", "labels"), str),
    ("--image-size", ("data", "size"), str),
    ("--stats-data", ("data", "stats"), click.Path(exists=True)),
    ("--eval-url", ("data", "uri"), str),
]
_POST_HELP = {
    "--eval-data": "Your own evaluation rows (CSV/TSV/Parquet/.npz/.npy or an image folder); they are "
    "published as a blob and the task commits to their hash. Public to the committee.",
    "--label": "The label column of --eval-data (and of every worker's file); default 'label'.",
    "--labels": "Class names in order, comma-separated (default: the evaluation file's labels, sorted).",
    "--image-size": "WxH every image is resized to (image folders).",
    "--stats-data": "With --standardize: the rows whose per-feature statistics the task publishes.",
    "--eval-url": "Base URL the blob is served under (`synod blob serve DIR`); default: a file:// URI.",
}


def _post_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One option per common task spec field; each overrides --file and the defaults."""
    for flag, path, kind in reversed(_POST_FLAGS):
        help_text = _POST_HELP.get(flag, f"Task spec field {'.'.join(path)}.")
        command = click.option(flag, default=None, type=kind, help=help_text)(command)
    command = click.option(
        "--standardize/--no-standardize",
        default=None,
        help="Publish per-feature mean and scale with the task, applied by every party (--eval-data).",
    )(command)
    return click.option(
        "--blob-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Where the evaluation blob is written (default: HOME/blobs); serve it with `synod blob serve`.",
    )(command)


def _spec_from(file: str | None, flags: dict[str, Any]) -> dict[str, Any]:
    """The task spec: defaults, then --file, then the flags."""
    from app.agents.taskspec import load_task_spec  # JAX and scikit-learn: only `post` pays for them

    spec = load_task_spec(file)
    for flag, path, _ in _POST_FLAGS:
        value = flags[flag[2:].replace("-", "_")]
        if value is not None:
            target = spec
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
    if flags["standardize"] is not None:
        spec["data"]["standardize"] = flags["standardize"]
    return spec


@task_tx.command("post")
@from_option
@click.option(
    "--file",
    "spec_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Task spec JSON (fields override the embedded defaults; see app/agents/taskspec.py).",
)
@_post_options
@tx_options
def post(from_key: str, spec_file: str | None, **opts: Any) -> None:
    """Post a learning task owned by --from, escrowing its reward; prints the new task id."""
    from app.agents.taskspec import TaskSpecError, build_post_task

    key = load_key(opts["home"], from_key)
    try:
        blob_dir = Path(opts["blob_dir"] or Path(opts["home"]) / "blobs")
        msg = build_post_task(key.address, _spec_from(spec_file, opts), blob_dir)
    except TaskSpecError as e:
        raise click.BadParameter(str(e), param_hint="--file or the task flags") from None
    if "://" in msg.data.eval_data:
        click.echo(
            f"evaluation rows published at {msg.data.eval_data} (sha256 {msg.data.eval_hash.hex()})", err=True
        )
    summary = (
        f"post task {msg.description!r}: {msg.model.arch} on {msg.data.dataset}, "
        f"{msg.schedule.rounds} rounds, "
        f"{msg.min_workers}-{msg.max_workers} workers, reward {msg.reward.amount}{msg.reward.denom}"
    )
    if opts["gas"] is None:  # weights derived on chain are stored, and paid for, by the post
        opts = {**opts, "gas": post_task_gas(msg)}
    send_tx(
        key,
        [msg],
        opts,
        summary,
        lambda outcome: {"task_id": int(outcome.attribute("post_task", "task_id") or 0)},
    )


@task_tx.command("join")
@from_option
@click.argument("task_id", type=click.IntRange(1))
@tx_options
def join(from_key: str, task_id: int, **opts: Any) -> None:
    """Join TASK_ID as a worker, bonding its worker stake."""
    key = load_key(opts["home"], from_key)
    send_tx(key, [msg_join(key.address, task_id)], opts, f"join task {task_id} as {key.address}")


def _task_round(opts: dict[str, Any], task_id: int, round_: int | None) -> tuple[int, int]:
    """(round to use, the task model's parameter count): --round, else the task's current round."""
    with client_errors():
        resp = TasksClient(resolve_node(opts["node"], opts["home"])).task(task_id)
    m = resp.task.model
    return (resp.round if round_ is None else round_), model_param_count(m)


def _update_bytes(path: str, size: int) -> bytes:
    """The update file, encoded for the chain."""
    try:
        return read_update_file(path, size)
    except UpdateFileError as e:
        raise click.BadParameter(str(e), param_hint="UPDATE_FILE") from None


def _salt(text: str) -> bytes:
    """A 32-byte salt from hex."""
    try:
        salt = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        salt = b""
    if len(salt) != SALT_LEN:
        raise click.BadParameter(
            f"the salt must be {SALT_LEN} bytes of hex ({2 * SALT_LEN} digits)", param_hint="--salt"
        )
    return salt


_UPDATE_HELP = (
    "UPDATE_FILE is a .npy vector with one value per model parameter: floats are the delta "
    "(trained - global) and are quantized like the worker's (clip +-4.0, 12 fractional bits); "
    "integers are taken as int16 fixed point already (value * 4096)."
)


@task_tx.command("commit", epilog=_UPDATE_HELP)
@from_option
@click.argument("task_id", type=click.IntRange(1))
@click.argument("update_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--samples", type=click.IntRange(1), required=True, help="Training samples behind the update.")
@click.option(
    "--salt", "salt_hex", default=None, help="32-byte hex salt (default: random, printed; keep it)."
)
@click.option(
    "--round", "round_", type=click.IntRange(1), default=None, help="Round (default: the current one)."
)
@tx_options
def commit(
    from_key: str,
    task_id: int,
    update_file: str,
    samples: int,
    salt_hex: str | None,
    round_: int | None,
    **opts: Any,
) -> None:
    """Commit to the update in UPDATE_FILE for TASK_ID's commit phase; reveal it later with the same salt."""
    key = load_key(opts["home"], from_key)
    round_, size = _task_round(opts, task_id, round_)
    salt = _salt(salt_hex) if salt_hex else secrets.token_bytes(SALT_LEN)
    msg = msg_commit(key.address, task_id, round_, salt, samples, _update_bytes(update_file, size))
    summary = f"commit to {update_file} ({samples} samples) in round {round_} of task {task_id}"
    send_tx(
        key,
        [msg],
        opts,
        summary,
        lambda _: {"round": round_, "salt": salt.hex(), "commitment": msg.commitment.hex()},
    )


@task_tx.command("reveal", epilog=_UPDATE_HELP)
@from_option
@click.argument("task_id", type=click.IntRange(1))
@click.argument("update_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--samples", type=click.IntRange(1), required=True, help="The sample count committed to.")
@click.option("--salt", "salt_hex", required=True, help="The 32-byte hex salt of the commitment.")
@click.option(
    "--round", "round_", type=click.IntRange(1), default=None, help="Round (default: the current one)."
)
@tx_options
def reveal(
    from_key: str,
    task_id: int,
    update_file: str,
    samples: int,
    salt_hex: str,
    round_: int | None,
    **opts: Any,
) -> None:
    """Reveal the update committed to in TASK_ID's current round (same file, salt and sample count)."""
    key = load_key(opts["home"], from_key)
    round_, size = _task_round(opts, task_id, round_)
    update = _update_bytes(update_file, size)
    parts, msg, read_gas = reveal_messages(key.address, task_id, round_, _salt(salt_hex), samples, update)
    for i, part in enumerate(parts):  # a large update: its parts first, each waited for, in order
        send_tx(key, [part], {**opts, "no_wait": False}, f"stage part {i + 1}/{len(parts)} of {update_file}")
        opts = {**opts, "yes": True}  # one confirmation covers the whole update
    if parts and opts["gas"] is None:
        opts = {**opts, "gas": compute_gas_limit([msg]) + read_gas}
    send_tx(key, [msg], opts, f"reveal {update_file} in round {round_} of task {task_id}")


@task_tx.command("cancel")
@from_option
@click.argument("task_id", type=click.IntRange(1))
@tx_options
def cancel(from_key: str, task_id: int, **opts: Any) -> None:
    """Cancel TASK_ID (owner only, before its first round); reward and stakes go back."""
    key = load_key(opts["home"], from_key)
    send_tx(key, [msg_cancel(key.address, task_id)], opts, f"cancel task {task_id}")
