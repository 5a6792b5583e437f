"""timeout_commit against block interval, idle CPU and tx latency on the 4-validator localnet."""
