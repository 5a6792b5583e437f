"""Fault campaign on the 4-validator localnet (issue 14, "No cheap halts"): see README.md."""
