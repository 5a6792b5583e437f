"""`synod committee run`: the committee member agent that scores every round it is seated in."""

from __future__ import annotations

import signal
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from app.client.follow import follow_node
from app.client.rpc import RpcError
from app.core.crypto import AddressError, decode_address
from cli.common import (
    client_errors,
    emit,
    home_option,
    load_key,
    node_option,
    output_option,
    poll_option,
    resolve_node,
    stop_on_sigterm,
)
from cli.light import verification_failures
from cli.query.common import agent_querier, agent_verify_options

__all__ = ["committee"]


@click.group("committee")
def committee() -> None:
    """Committee members: score federated-learning updates and attest."""


def _colluders(addresses: tuple[str, ...]) -> frozenset[str]:
    """--collude-with addresses, checked."""
    for address in addresses:
        try:
            decode_address(address)
        except AddressError as e:
            raise click.BadParameter(str(e), param_hint="--collude-with") from None
    return frozenset(addresses)


def _attack(spec: str | None) -> Any:
    """The committee attack --attack names, or None."""
    if spec is None:
        return None
    from app.ml.attacks import AttackError, parse_committee_attack

    try:
        return parse_committee_attack(spec)
    except AttackError as e:
        raise click.BadParameter(str(e), param_hint="--attack") from None


@committee.command("run")
@click.option(
    "--key", required=True, help="The validator's operator key (name or address) in --home's keyring."
)
@click.option(
    "--attack",
    default=None,
    help="Misbehave, for experiments: a committee attack spec, e.g. lazy or collude:low=0 (app/ml/attacks).",
)
@click.option(
    "--collude-with",
    multiple=True,
    help="A worker address the collude attack favours (repeat for each).",
)
@click.option("--once", is_flag=True, help="Look at the chain once, attest what is due now, and exit.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the salted attestations live between commit and reveal, across restarts "
    "[default: HOME/committee/ADDRESS].",
)
@poll_option(0.5)
@click.option("--quiet", "-q", is_flag=True, help="Log lines instead of the live display (for log files).")
@agent_verify_options
@home_option
@node_option
@output_option
def run(
    key: str,
    attack: str | None,
    collude_with: tuple[str, ...],
    once: bool,
    state_dir: str | None,
    poll: float,
    quiet: bool,
    verify: bool | None,
    grpc: str | None,
    home: str,
    node: str | None,
    output: str,
) -> None:
    """Score every round whose committee seats --key's validator: commit to the scores in the score
    phase's commit window, reveal them in its reveal window.

    Runs until interrupted (Ctrl-C or SIGTERM), then prints what it attested and how the chain judged
    it. Progress goes to stderr, the summary to stdout. Restarted, it never attests a round twice.
    """
    from app.agents.committee import CommitteeConfig, CommitteeMember, MemberError, default_state_dir
    from app.agents.progress import make_reporter

    signer = load_key(home, key)
    config = CommitteeConfig(
        poll_interval=poll,
        once=once,
        attack=_attack(attack),
        colluding_workers=_colluders(collude_with),
        state_dir=Path(state_dir) if state_dir else default_state_dir(home, signer.address),
    )
    with client_errors():
        rpc = resolve_node(node, home)
    querier = agent_querier(home, rpc, grpc, verify)
    reporter = make_reporter(quiet, prefix=f"member {signer.address[:14]}")
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        # verification_failures: the node served state its proofs do not show. --once never waits.
        following = nullcontext() if once else follow_node(rpc.url, poll, reporter)
        with verification_failures(), following as follower:
            summary = CommitteeMember(rpc, signer, config, reporter, querier=querier, follower=follower).run()
    except (MemberError, RpcError) as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:  # a second interrupt, while the summary was being made
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
        reporter.close()
    emit(output, summary.to_dict(), summary.describe())
