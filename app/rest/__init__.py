"""The REST gateway (JSON over HTTP, OpenAPI, tx forwarding, Prometheus metrics); see README.md."""
