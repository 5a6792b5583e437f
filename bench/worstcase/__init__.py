"""bench/worstcase: the most expensive block the parameters allow, for each block-level cost.

    python -m bench.worstcase [--smoke] [--only NAME ...]

Each case builds, in process, the block (or proposal, or vote extensions) that maximises one cost
under the chain's default parameters, and times the ABCI methods every validator runs on it:
PrepareProposal, ProcessProposal, FinalizeBlock, Commit, ExtendVote and VerifyVoteExtension. The
goal is that each stays under the localnet's block interval (0.54 s at `timeout_commit` 200ms,
bench/results/blocktime.json). The app runs over LevelDB, as a node does, on one core.

The cases drive the app through the deterministic test harness (tests/integration/harness.py), so a
case's block is the one the integration tests exercise, at the parameters' limits.
Writes bench/results/worstcase.json; --smoke runs every case at a small size and writes
worstcase-smoke.json (git-ignored).
"""
