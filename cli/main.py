"""The `synod` command line."""

from __future__ import annotations

import click

from cli.committee import committee, committee_tx
from cli.committeequery import committee_query, reputation, task_scores
from cli.consensus import consensus_tx
from cli.consensusquery import consensus_query
from cli.demo import demo
from cli.ensemble import ensemble
from cli.keys import keys
from cli.light import light
from cli.localnet import localnet
from cli.node import init, start, status
from cli.predict import predict
from cli.query import query
from cli.task import task_tx
from cli.taskplot import task
from cli.taskquery import task_query
from cli.tx import tx
from cli.worker import worker

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synod", prog_name="synod")
def cli() -> None:
    """Synod: an application-specific blockchain for decentralized machine learning."""


for _command in (init, start, status, keys, tx, query, light, localnet, worker):
    cli.add_command(_command)
cli.add_command(task)  # `synod task plot`
cli.add_command(demo)  # `synod demo`
cli.add_command(committee)  # `synod committee run`
cli.add_command(predict)  # `synod predict run`
cli.add_command(ensemble)  # `synod ensemble run`
tx.add_command(task_tx)  # `synod tx task ...`
tx.add_command(committee_tx)  # `synod tx committee opt-in|opt-out`
tx.add_command(consensus_tx)  # `synod tx consensus query|register|reveal-labels|register-model`
query.add_command(task_query)  # `synod query task ...`
query.add_command(committee_query)  # `synod query committee ...`
query.add_command(consensus_query)  # `synod query consensus ...`
query.add_command(reputation)  # `synod query reputation ADDR`
task_query.add_command(task_scores)  # `synod query task scores TASK ROUND`


def main() -> None:
    """Console-script entry point."""
    cli()
