"""Light-client costs: header verification, state-proof verification, and query throughput.

    python -m bench.light [--blocks 1000] [--keys 100000] [--proofs 20000] [--query-seconds 5]

Side by side in one run, on this machine:

1. Headers. A 4-node CometBFT network (`cometbft testnet --v 4`, the built-in kvstore app) makes
   2N+ blocks: heights 1..1+N signed by all 4 validators (static set), then N more whose set
   switches, by kvstore `val=` txs, between nodes {0,1} and {2,3} (rotating set). Then three nodes
   are stopped, so the chain halts and node 0 serves its blocks from an otherwise idle network.
   For each stretch the light client (app.client.light.LightClient, TrustedStore included)
   catches up from its first height to its last, sequentially (every header against the one
   before) and by skipping (jump to the target; bisect when too little of the trusted set signed
   it, which the rotating stretch forces). Once over RPC (end to end) and once over prefetched
   RPC answers in memory (no network); the prefetch itself is timed as the fetch cost.
2. Proofs. Sparse Merkle tree (app.state.smt) of 100k keys: membership and non-membership proof
   verification per second, from proof objects and from wire bytes (decode + verify).
3. Queries. A 1-validator Synod node (`synod start`): one funded account's balance, closed loop at
   concurrency 1 and 16, through CometBFT's /abci_query (path /store with prove=true: value + SMT
   proof; path /bank/balances: no proof) and through the app's gRPC query server (bank Balance,
   whose answer carries its StateProof). Every answer is checked and its proofs decoded; ratios are
   over /abci_query /store (prove). Backends are listed in bench/light/queries.py.

Writes bench/results/light.json. Times in seconds; ratios are plain numbers with `ratio` in the key.
"""

__all__: list[str] = []
