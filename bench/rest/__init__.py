"""REST gateway vs gRPC: latency and throughput of the same balance query (see __main__.py)."""
