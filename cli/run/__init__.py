"""The long-running commands that start an off-chain agent or the demo, one file each.

worker.py, committee.py, predict.py and ensemble.py are `synod worker|committee|predict|ensemble
run`; demo.py is `synod demo`. The agents themselves are in app/agents, the demo in app/demo.
cli/main.py hangs each command on the tree; the modules' groups are not re-exported here, so
that `cli.run.worker` stays the module.
"""

__all__: list[str] = []
