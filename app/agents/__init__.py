"""Off-chain agents: task specs, the worker loop (JAX allowed; never imported by the state machine)."""
