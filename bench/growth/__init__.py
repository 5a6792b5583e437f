"""How the cost of an FL round grows with the model size d and the worker count n (issue 18's growth table).

`python -m bench.growth [--smoke]` prints three tables and writes bench/results/growth.json
(growth-smoke.json with --smoke: d in 1k, 10k x n in 4, 16, a few seconds, for CI). The full grid is
d in 1k, 10k, 100k, 1M, 2M x n in 4, 16, 64, 128 for the rules mean, median and krum (krum with the
most Byzantine workers n admits, f = (n - 3) // 2, so min_updates = 2f + 3 <= n).

What each column is, and whether it is measured, estimated or modelled:

- end-block ms: MEASURED in-process on this machine (endblock.py). The consensus code of a round's
  close as tasks/hooks.py runs it: UPDATE_FORMAT.decode of n int16 updates, Update per worker, the
  rule (get_rule, make_params; its share is the "rule ms" column), WEIGHT_FORMAT.decode of the
  checkpoint, compute_next_weights, WEIGHT_FORMAT.encode and sha256. Best of three repeats where a
  cell is predicted under a second, else best of two; the first close at each size is shown too,
  since it pays the page faults of fresh memory (a validator's first big round). A cell the chain
  refuses at post time (compute_work > the default max_aggregation_work, 2^27) is not run and says
  so. A cell predicted over 20 s, or over 6 GiB of working memory, is ESTIMATED: scaled linearly in
  compute_work from the rule's largest measured cell, and marked.
- bytes, txs, blocks, +state (each per round): COUNTED from the chain's constants
  (sizing.py). A round moves n x 2d bytes of reveals through the mempool and blocks (MsgRevealPart
  pieces of PART_BYTES = 512 KiB plus the closing MsgRevealUpdate) and n x 4d of checkpoint
  downloads; it sends n x (commit + parts + closing reveal) txs; the reveals fill at least
  ceil(n x 2d / 22,020,096) blocks at CometBFT's default block max_bytes; it adds the new 4d-byte
  checkpoint to state (updates are deleted when the round closes), and checkpoint_retention_bytes
  (256 MiB) keeps max(2, 256 MiB // 4d) of them, so a task's state is bounded.
- MODEL s (with its floor and transport terms): a MODEL, not a measurement: max(early-close
  floor, transport). The floor is four blocks (commits, commit close, reveals, reveal close) at the
  localnet's block interval (bench/results/blocktime.json, timeout_commit 200ms) plus end-block;
  transport is n x 2d over a reveal throughput calibrated on bench/results/fl-large.json (16
  workers x 2,100,010 parameters: its reveal bytes over its on-chain s/round). A second table puts
  the two on-chain rounds bench/fl measured on the localnet (fl.json: logreg, 650 x 8;
  fl-large.json) beside the model: fl-large matches by construction, fl.json checks the floor.
- Design limits: where each bound is hit (limits.py): max_aggregation_work per rule (the largest d
  at each n), max_model_params, max_workers, auth.max_tx_bytes (why updates are cut into parts),
  128 parts per update (MIN_PART_BYTES), gRPC's 64 MiB message cap (a Model query carries the
  weights twice with proofs) and CometBFT's block max_bytes.
"""
