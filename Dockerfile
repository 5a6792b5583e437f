# The Synod node image: one app + CometBFT pair (`synod start`), and the explorer page (`synod
# explorer`). Every stage runs scripts/setup.sh, the same set-up CI runs: the Go stage builds the
# pinned CometBFT, the Node stage bundles the explorer's page, the Python stage the app.
#   docker build -t synod .
#   docker run -v synod-home:/home/synod synod init --home /home/synod --chain-id c --moniker m
#   docker run -v synod-home:/home/synod -p 26656:26656 -p 26657:26657 synod start --home /home/synod
#   docker run -v synod-home:/home/synod -p 8080:8080 synod explorer --home /home/synod --listen 0.0.0.0:8080

FROM golang:1.26-bookworm AS go
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
COPY app/node/toolchain.py app/node/toolchain.py
RUN SYNOD_SETUP_STEPS=go bash scripts/setup.sh

FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
COPY app/node/toolchain.py app/node/toolchain.py
COPY app/explorer/web app/explorer/web
RUN SYNOD_SETUP_STEPS=web bash scripts/setup.sh

FROM python:3.11-slim-bookworm AS node
WORKDIR /src
# The Go module cache holds the upstream .proto files that set-up compiles (never copied into git).
COPY --from=go /go/pkg/mod/github.com/cometbft /gomod/github.com/cometbft
COPY --from=go /go/pkg/mod/github.com/cosmos /gomod/github.com/cosmos
ENV GOMODCACHE=/gomod SYNOD_SETUP_EXTRAS=ml
COPY . .
COPY --from=go /src/.venv/bin/cometbft /src/.venv/bin/abci-cli /src/.venv/bin/
COPY --from=web /src/app/explorer/static /src/app/explorer/static
RUN SYNOD_SETUP_STEPS=python,protos bash scripts/setup.sh
ENV PATH=/src/.venv/bin:$PATH
# p2p, rpc, gRPC, REST + metrics, explorer
EXPOSE 26656 26657 9090 1317 8080
ENTRYPOINT ["synod"]
CMD ["start", "--home", "/home/synod"]
