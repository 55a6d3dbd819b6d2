# Stand-in for Mailpit: deploy/local/inbox.py catches e-mail on SMTP port 1025 and answers
# Mailpit's GET /api/v1/messages and /readyz on port 8025.
FROM passerelle-local/debian:bookworm
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3 python3-aiosmtpd \
 && rm -rf /var/lib/apt/lists/*
COPY inbox.py /usr/local/bin/inbox.py
USER 10001:10001
ENTRYPOINT ["python3", "/usr/local/bin/inbox.py", "--host", "0.0.0.0", "--file", "/tmp/messages.jsonl", "--http-port", "8025", "--smtp-port", "1025"]
EXPOSE 1025 8025
