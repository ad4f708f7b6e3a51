FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams streams
COPY agents agents
COPY nlp nlp
COPY schemas schemas
COPY seeds seeds
COPY models models
# Editable install: the trained models are read from /app/models.
RUN pip install --no-cache-dir -e .
ENV WIRESTREAM_DATA_DIR=/tmp/wirestream
CMD ["wirestream", "worker"]
