# The stockroom binary, for docker-compose.yml. Every service runs this image
# with a different subcommand.
FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p stockroom

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/stockroom /usr/local/bin/stockroom
ENTRYPOINT ["stockroom"]
