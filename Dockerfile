# Two stages: build the wheel (it carries the trained models and the data files), then
# install it, not an editable checkout, into a slim image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams streams
COPY agents agents
COPY nlp nlp
COPY schemas schemas
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist .

FROM python:3.11-slim
WORKDIR /app
COPY --from=build /dist /dist
RUN pip install --no-cache-dir /dist/wirestream-*.whl && rm -rf /dist
COPY seeds seeds
ENV WIRESTREAM_DATA_DIR=/tmp/wirestream
CMD ["wirestream", "worker"]
