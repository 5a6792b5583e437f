"""The `synod` command line: the command tree, assembled from one file per module.

cli/tx/ and cli/query/ hold one file per module (`synod tx bank ...`, `synod query task ...`),
cli/run/ the commands that start an agent or the demo; the rest sit beside this file.
"""

from __future__ import annotations

import click

from cli.blob import blob
from cli.explorer import explorer
from cli.keys import keys
from cli.light import light
from cli.localnet import localnet
from cli.node import init, start, status
from cli.query import query
from cli.query.auth import auth as auth_query
from cli.query.bank import bank as bank_query
from cli.query.committee import committee_query, reputation, task_scores
from cli.query.consensus import consensus_query
from cli.query.slashing import slashing as slashing_query
from cli.query.staking import staking as staking_query
from cli.query.task import task_query
from cli.query.tx import tx as tx_query
from cli.run.committee import committee
from cli.run.demo import demo
from cli.run.ensemble import ensemble
from cli.run.predict import predict
from cli.run.worker import worker
from cli.taskplot import task
from cli.tx import tx
from cli.tx.bank import bank as bank_tx
from cli.tx.committee import committee_tx
from cli.tx.consensus import consensus_tx
from cli.tx.staking import staking as staking_tx
from cli.tx.task import task_tx

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synod", prog_name="synod")
def cli() -> None:
    """Synod: an application-specific blockchain for decentralized machine learning."""


for _command in (init, start, status, keys, tx, query, light, localnet, worker, blob):
    cli.add_command(_command)
cli.add_command(task)  # `synod task plot`
cli.add_command(explorer)  # `synod explorer`
cli.add_command(demo)  # `synod demo`
cli.add_command(committee)  # `synod committee run`
cli.add_command(predict)  # `synod predict run`
cli.add_command(ensemble)  # `synod ensemble run`
for _command in (bank_tx, staking_tx, task_tx, committee_tx, consensus_tx):
    tx.add_command(_command)  # `synod tx bank|staking|task|committee|consensus ...`
for _command in (auth_query, bank_query, staking_query, slashing_query, tx_query):
    query.add_command(_command)  # `synod query auth|bank|staking|slashing ...`, `synod query tx HASH`
query.add_command(task_query)  # `synod query task ...`
query.add_command(committee_query)  # `synod query committee ...`
query.add_command(consensus_query)  # `synod query consensus ...`
query.add_command(reputation)  # `synod query reputation ADDR`
task_query.add_command(task_scores)  # `synod query task scores TASK ROUND`


def main() -> None:
    """Console-script entry point."""
    cli()
