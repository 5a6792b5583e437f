"""End-to-end throughput: signed MsgSends at paced rates into a 4-validator localnet, vs CometBFT kvstore.

    python -m bench.throughput [--rates 100,200,400,800] [--duration 20]
    python -m bench.throughput --profile-only [--profile-txs 1000] [--profile-repeats 5]

Both systems run the same 4-node topology (same loopback IPs, ports, config.toml and consensus
timeouts) under the same open-loop load generator: pre-signed txs (distinct funded senders, each
used once) offered at a steady rate, spread round-robin over the 4 nodes' `broadcast_tx_sync`.
kvstore gets `key=value` txs of the same byte size. Per system and rate: committed tx/s (txs in
blocks committed inside the steady-state window), p50/p99 inclusion latency (send -> commit of its
block; a block's commit time is the BFT time of the next header, the median of its precommits),
CPU seconds per committed tx (utime+stime of every node process, app and CometBFT). Then an
in-process profile of where our per-tx time goes (bench/throughput/profile.py: CheckTx, RECHECK,
warm and cold FinalizeBlock, Commit). Writes bench/results/throughput.json. `--profile-only` runs
just that profile, no localnet, and writes bench/results/throughput-profile.json.
"""
