"""`synod tx consensus ...`: post prediction queries, register for them, reveal a query's labels,
and enrol a validator's model in the fast-path ensemble.

Transactions are signed by --from (a key name or address in --home's keyring); their gas defaults
to an estimate from the message size (inline inputs can be large), and --gas overrides it.
"""

from __future__ import annotations

import secrets
from typing import Any

import click

from app.client.consensus import ConsensusClient
from app.client.consensustx import (
    SALT_LEN,
    QuerySpec,
    msg_post_query,
    msg_register,
    msg_register_model,
    msg_reveal_labels,
)
from app.core.crypto import PrivateKey, decode_address
from app.modules.consensus.logic import compute_labels_commitment
from cli.common import (
    client_errors,
    from_option,
    load_key,
    resolve_node,
    send_tx,
    single_coin,
    tx_options,
)
from cli.tx.consensusinputs import (
    INPUTS_FILE_HELP,
    InputsError,
    LabelsRecord,
    PostedInputs,
    find_labels,
    load_inputs_file,
    load_inputs_uri,
    read_labels_file,
    save_labels,
)
from synod.consensus.v1 import consensus_pb2

__all__ = ["consensus_tx"]


@click.group("consensus")
def consensus_tx() -> None:
    """Prediction queries: post, register, reveal labels; the validators' fast-path ensemble."""


def _inputs(file: str | None, uri: str | None, inline: bool) -> PostedInputs:
    """The inputs from --file or --inputs-uri (exactly one)."""
    if (file is None) == (uri is None):
        raise click.UsageError("give the inputs with exactly one of --file or --inputs-uri")
    try:
        return load_inputs_file(file) if file is not None else load_inputs_uri(uri or "", inline)
    except InputsError as e:
        raise click.BadParameter(str(e), param_hint="--file or --inputs-uri") from None


def _labels_to_commit(inputs: PostedInputs, labels_file: str | None, commit_labels: bool) -> bytes | None:
    """The labels to commit to: --labels-file, or with --commit-labels those the inputs came with."""
    if labels_file is not None:
        try:
            labels = read_labels_file(labels_file)
        except InputsError as e:
            raise click.BadParameter(str(e), param_hint="--labels-file") from None
    elif commit_labels:
        if inputs.labels is None:
            raise click.BadParameter(
                'the inputs carry no labels: add "labels" to the inputs file, or pass --labels-file',
                param_hint="--commit-labels",
            )
        labels = inputs.labels
    else:
        return None
    if len(labels) != inputs.input_count:
        raise click.BadParameter(
            f"{len(labels)} labels for {inputs.input_count} inputs", param_hint="--labels-file"
        )
    return bytes(labels)


def _label_count(given: int | None, inputs: PostedInputs, labels: bytes | None) -> int:
    """--labels, else the inputs file's label_count; every committed label must be below it."""
    count = given if given is not None else inputs.label_count
    if count is None:
        raise click.UsageError(
            'give the number of classes with --labels N (or "label_count" in the inputs file)'
        )
    if labels is not None and max(labels, default=0) >= count:
        raise click.BadParameter(
            f"a committed label is {max(labels)}, not below the {count} classes", param_hint="--labels"
        )
    return count


@consensus_tx.command("query", epilog=INPUTS_FILE_HELP)
@from_option
@click.option("--file", "inputs_file", type=click.Path(dir_okay=False, exists=True), help="Inputs JSON.")
@click.option(
    "--inputs-uri", default=None, help="Inputs by reference, e.g. synod:digits/test?start=0&count=50."
)
@click.option("--inline", is_flag=True, help="With --inputs-uri: send the resolved rows on chain.")
@click.option("--labels", "label_count", type=click.IntRange(2, 256), default=None, help="Number of classes.")
@click.option("--description", default="", help="What the query asks.")
@click.option("--rounds", type=click.IntRange(0), default=2, show_default=True, help="Rounds after round 0.")
@click.option("--peer-sample", type=click.IntRange(0), default=3, show_default=True, help="Peers shown.")
@click.option("--min-stake", default="1000usyn", show_default=True, help="Stake per participant.")
@click.option("--reward", required=True, help="Reward escrowed for the participants, e.g. 1000000usyn.")
@click.option("--max-participants", type=click.IntRange(0), default=0, help="0: unlimited.")
@click.option(
    "--commit-blocks",
    type=click.IntRange(1),
    default=60,
    show_default=True,
    help="Per round, at most: a phase closes once every participant is done; round 0's (registration) "
    "only once --max-participants have registered.",
)
@click.option(
    "--reveal-blocks", type=click.IntRange(1), default=20, show_default=True, help="Per round, at most."
)
@click.option(
    "--label-blocks", type=click.IntRange(1), default=20, show_default=True, help="To reveal labels."
)
@click.option("--fast", is_flag=True, help="Answered by the validators' ensemble in the next blocks.")
@click.option("--labels-file", type=click.Path(dir_okay=False, exists=True), help="Commit to these labels.")
@click.option("--commit-labels", is_flag=True, help="Commit to the labels the inputs come with.")
@tx_options
def post_query(**opts: Any) -> None:
    """Post a prediction query signed by --from, escrowing --reward; prints the new query id.

    With --labels-file or --commit-labels the query commits to the true labels (SHA-256 of a domain
    tag, the poster, the inputs' hash, a random salt and the labels); labels and salt are kept under
    HOME/consensus/labels for `reveal-labels`.
    """
    inputs = _inputs(opts.pop("inputs_file"), opts.pop("inputs_uri"), opts.pop("inline"))
    labels = _labels_to_commit(inputs, opts.pop("labels_file"), opts.pop("commit_labels"))
    spec = QuerySpec(
        label_count=_label_count(opts.pop("label_count"), inputs, labels),
        reward=single_coin(opts.pop("reward"), "--reward"),
        min_stake=single_coin(opts.pop("min_stake"), "--min-stake"),
        **{k: opts.pop(k) for k in ("description", "rounds", "peer_sample", "max_participants", "fast")},
        **{k: opts.pop(k) for k in ("commit_blocks", "reveal_blocks", "label_blocks")},
    )
    key = load_key(opts["home"], opts.pop("from_key"))
    from app.ml.queryinputs import compute_inputs_hash

    inputs_hash = compute_inputs_hash(inputs.blob)
    commitment = b""
    if labels is not None:
        salt = secrets.token_bytes(SALT_LEN)
        commitment = compute_labels_commitment(decode_address(key.address), inputs_hash, salt, labels)
        save_labels(opts["home"], LabelsRecord(key.address, labels, salt, commitment))
    msg = msg_post_query(
        key.address,
        spec,
        inputs.input_count,
        inputs_hash,
        inputs.blob if inputs.inline else b"",
        inputs.uri,
        commitment,
    )
    kind = "fast query" if spec.fast else f"query with {spec.rounds} rounds after round 0"
    where = f"{len(msg.inputs)} bytes inline" if msg.inputs else msg.inputs_uri
    summary = (
        f"post a {kind}: {inputs.input_count} inputs ({where}), {spec.label_count} classes, "
        f"reward {spec.reward.amount}{spec.reward.denom}"
        + (", committing to the labels" if commitment else "")
    )
    send_tx(key, [msg], opts, summary, _query_id)


def _query_id(outcome: Any) -> dict[str, Any]:
    """The new query's id, from the post_query event."""
    return {"query_id": int(outcome.attribute("post_query", "query_id") or 0)}


def _query(opts: dict[str, Any], query_id: int) -> consensus_pb2.PredictionQuery:
    """A query record from the node."""
    with client_errors():
        return ConsensusClient(resolve_node(opts["node"], opts["home"])).query(query_id).query


@consensus_tx.command("register")
@from_option
@click.argument("query_id", type=click.IntRange(1))
@click.option(
    "--stake", default=None, help="Stake to escrow, e.g. 5000usyn (default: the query's min stake)."
)
@tx_options
def register(from_key: str, query_id: int, stake: str | None, **opts: Any) -> None:
    """Register --from for QUERY_ID during round 0's commit phase, escrowing --stake.

    Registering by hand leaves the rounds to you; `synod predict run` registers, predicts, commits
    and reveals every round by itself.
    """
    coin = single_coin(stake, "--stake") if stake else _query(opts, query_id).min_stake
    key = load_key(opts["home"], from_key)
    summary = f"register {key.address} for query {query_id} with stake {coin.amount}{coin.denom}"
    send_tx(key, [msg_register(key.address, query_id, coin)], opts, summary)


def _labels_to_reveal(
    home: str, query: consensus_pb2.PredictionQuery, labels_file: str | None, salt_hex: str | None
) -> tuple[bytes, bytes]:
    """(labels, salt): from --labels-file and --salt, else the local record of the query's commitment."""
    if not query.labels_commitment:
        raise click.UsageError(
            f"query {query.id} was posted without a labels commitment: it pays by agreement at its "
            "label deadline and the chain refuses labels for it (consensus 26); post with --commit-labels"
        )
    record = find_labels(home, query.labels_commitment)
    labels = bytes(read_labels_file(labels_file)) if labels_file else (record.labels if record else None)
    salt = bytes.fromhex(salt_hex) if salt_hex else (record.salt if record else b"")
    if labels is None:
        raise click.UsageError(
            f"no labels saved under {home}/consensus/labels for query {query.id}'s commitment "
            f"{query.labels_commitment.hex()}: pass --labels-file (and --salt)"
        )
    expected = compute_labels_commitment(decode_address(query.poster), query.inputs_hash, salt, labels)
    if expected != query.labels_commitment:
        raise click.BadParameter(
            f"these labels and salt do not hash to query {query.id}'s labels commitment "
            f"{query.labels_commitment.hex()}; the chain would refuse them",
            param_hint="--labels-file or --salt",
        )
    return labels, salt


@consensus_tx.command("reveal-labels")
@from_option
@click.argument("query_id", type=click.IntRange(1))
@click.option("--labels-file", type=click.Path(dir_okay=False, exists=True), help="JSON list of classes.")
@click.option("--salt", "salt_hex", default=None, help="Hex salt of the commitment (default: the saved one).")
@tx_options
def reveal_labels(
    from_key: str, query_id: int, labels_file: str | None, salt_hex: str | None, **opts: Any
) -> None:
    """Reveal QUERY_ID's true labels after settlement (default: those saved when it was posted).

    The chain scores the settled answers and every participant against them, then closes the query.
    """
    query = _query(opts, query_id)
    try:
        labels, salt = _labels_to_reveal(opts["home"], query, labels_file, salt_hex)
    except (InputsError, ValueError) as e:
        raise click.BadParameter(str(e), param_hint="--labels-file or --salt") from None
    key = load_key(opts["home"], from_key)
    msg = msg_reveal_labels(key.address, query_id, labels, salt)
    send_tx(key, [msg], opts, f"reveal the {len(labels)} labels of query {query_id}")


@consensus_tx.command("register-model")
@from_option
@click.option("--model", required=True, help='Your model, e.g. "mlp:64 digits"; "" leaves the ensemble.')
@tx_options
def register_model(from_key: str, model: str, **opts: Any) -> None:
    """Enrol the validator operated by --from in the fast-path ensemble (its model answers fast queries)."""
    key: PrivateKey = load_key(opts["home"], from_key)
    what = f"enrol validator {key.address}'s model {model!r}" if model else f"take {key.address} out"
    send_tx(key, [msg_register_model(key.address, model)], opts, f"{what} of the fast-path ensemble")
