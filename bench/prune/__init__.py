"""Disk growth of the app's LevelDB over 10,000 blocks, tree pruning off vs on (issue 14).

`python -m bench.prune [--smoke]` commits BLOCKS blocks into a CommitStore on LevelDB (the storage
layer SynodApp commits through, driven in-process without CometBFT or transactions: executing
millions of signed transfers would measure the ante handler, not the disk). Each block writes
WRITES_PER_BLOCK state keys chosen at random (seeded) out of ACCOUNTS bank-balance-shaped keys, with
fresh 16-byte values: a steady load whose live state stays the same size, so every byte the database
gains is history. Every CHECKPOINT blocks it records, for `keep_recent = 0` (pruning off, the old
behaviour) and for the default `state_keep_recent` (100):

- disk MiB: the bytes of the LevelDB directory's files (what `du` shows; LevelDB reclaims deleted
  entries when it compacts, so this lags the key counts);
- nodes: tree nodes stored (`n` keys), and the nodes the latest root reaches (live);
- orphan index: orphan records (`o` keys) waiting for their height to leave the window;
- roots: roots stored.

It writes bench/results/prune.json (prune-smoke.json with --smoke: 300 blocks, checkpoints every
100, git-ignored).
"""
