# syntax=docker/dockerfile:1
# ReFT Server container image.
#
#   CPU (default):  docker build -t reft-server:0.1.0-SNAPSHOT .
#   CUDA:           docker build --build-arg VARIANT=cuda --build-context libtorch=/path/to/libtorch \
#                     -t reft-server:0.1.0-SNAPSHOT-cuda .
#
# Needs BuildKit (the default builder of current Docker): the runtime base is picked by a build arg, only the
# stages the chosen variant needs are built, and a named build context replaces the stage of the same name.
# docs/deployment.md explains every option.

# cpu: libtorch comes from the fat jar (DJL's pytorch-native-cpu) and is extracted into the DJL cache at start.
# cuda: a CUDA 12.8 runtime base plus a CUDA libtorch supplied at build time (see the libtorch stage below).
ARG VARIANT=cpu
ARG JRE_IMAGE=eclipse-temurin:17-jre-jammy
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04

# ---------------------------------------------------------------------------------------------------------------
# Build: the dependency layer is cached until pom.xml changes, so source edits rebuild in seconds.
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /build
COPY pom.xml .
RUN mvn -B -q dependency:go-offline
COPY src ./src
RUN mvn -B -DskipTests package

# ---------------------------------------------------------------------------------------------------------------
# Model: the default base model (stories15M + tokenizer.bin), fetched and checksum-verified by the same script
# developers use. The script needs bash, coreutils, tar and npm; the slim Node image has all of them.
FROM node:20-bookworm-slim AS model
COPY scripts/fetch-model.sh /opt/reft/fetch-model.sh
RUN bash /opt/reft/fetch-model.sh /models/stories15M

# ---------------------------------------------------------------------------------------------------------------
# libtorch for the cuda variant. DJL's JNI layer in the jar is built for PyTorch 2.7.1 with the cu128 flavour, so
# provide the matching libtorch (2.7.1, CUDA 12.8, cxx11 ABI, "shared-with-deps" archive, unzipped) as a named
# build context: --build-context libtorch=/path/to/libtorch (the folder that holds lib/libtorch.so).
# Without it this placeholder stage stops the cuda build with a message instead of producing a broken image.
FROM busybox:1.36 AS libtorch
RUN echo "VARIANT=cuda needs --build-context libtorch=DIR (unzipped libtorch 2.7.1 cu128, cxx11 ABI)" >&2 && exit 1

# ---------------------------------------------------------------------------------------------------------------
FROM ${JRE_IMAGE} AS base-cpu

FROM ${JRE_IMAGE} AS jre
FROM ${CUDA_IMAGE} AS base-cuda
ENV JAVA_HOME=/opt/java/openjdk
ENV PATH=/opt/java/openjdk/bin:${PATH}
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
COPY --from=libtorch lib/ /opt/libtorch/lib/
# DJL loads libtorch from PYTORCH_LIBRARY_PATH instead of the CPU copy in the jar; PYTORCH_FLAVOR picks the cu128
# JNI library bundled in pytorch-jni, PYTORCH_VERSION must match that libtorch.
ENV PYTORCH_LIBRARY_PATH=/opt/libtorch/lib \
    PYTORCH_FLAVOR=cu128 \
    PYTORCH_VERSION=2.7.1 \
    REFT_MODEL_DEVICE=gpu

# ---------------------------------------------------------------------------------------------------------------
FROM base-${VARIANT} AS runtime
# curl serves the HEALTHCHECK; installed explicitly so it does not depend on what the base image happens to carry.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 reft \
 && useradd --system --uid 10001 --gid reft --home-dir /app --shell /usr/sbin/nologin reft \
 && mkdir -p /app /data /var/cache/djl \
 && chown reft:reft /data /var/cache/djl

COPY --from=model --chown=reft:reft /models /models
COPY --from=build /build/target/reft-server-*.jar /tmp/reft-server.jar
# The jar extracted (/app/reft-server.jar and /app/lib: classes load faster than from nested jars) and its classes
# archived for class data sharing by a start that exits once the application context is up, on the default model
# and a scratch store, with this image's JVM. A start with the archive is about a third faster than from the fat
# jar; where the archive cannot be made (the cuda variant without a GPU at build time, say) the image is built
# without it and the JVM starts as it would without one.
RUN java -Djarmode=tools -jar /tmp/reft-server.jar extract --destination /app \
 && rm /tmp/reft-server.jar \
 && (DJL_OFFLINE=true DJL_CACHE_DIR=/tmp/cds-djl ENGINE_CACHE_DIR=/tmp/cds-djl REFT_MODEL_DEVICE=cpu \
       java -XX:ArchiveClassesAtExit=/app/reft-server.jsa -Xlog:cds=off -Xlog:cds+dynamic=off \
         -Dspring.context.exit=onRefresh -jar /app/reft-server.jar \
         --reft.model.path=/models/stories15M/stories15M.bin --reft.store.path=/tmp/cds-store \
         --server.port=0 >/tmp/cds.log 2>&1 \
     || (echo "no class data archive:" && tail -n 20 /tmp/cds.log && rm -f /app/reft-server.jsa)) \
 && rm -rf /tmp/cds-djl /tmp/cds-store /tmp/cds.log

# DJL must never reach the network; it extracts libtorch and its JNI library into a writable cache owned by the
# server user (a volume, so a read-only root filesystem works and restarts reuse the extracted files).
# Spring Boot turns the liveness/readiness health groups on by itself only on Kubernetes; the HEALTHCHECK below and
# Docker Compose need them everywhere.
ENV DJL_OFFLINE=true \
    DJL_CACHE_DIR=/var/cache/djl \
    ENGINE_CACHE_DIR=/var/cache/djl \
    REFT_MODEL_PATH=/models/stories15M/stories15M.bin \
    REFT_STORE_PATH=/data \
    SERVER_PORT=8080 \
    MANAGEMENT_ENDPOINT_HEALTH_PROBES_ENABLED=true \
    JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=50"
VOLUME ["/data", "/var/cache/djl"]

USER 10001:10001
WORKDIR /app
EXPOSE 8080
# Model load and libtorch extraction take a while on first start; readiness turns UP once the engine serves.
# /readyz is the readiness group on the serving port, also when MANAGEMENT_SERVER_PORT moves the actuator away.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD curl -fsS "http://localhost:${SERVER_PORT:-8080}/readyz" >/dev/null || exit 1
# Exec form: java is PID 1 and receives SIGTERM, so the engine drains in-flight requests before exit.
# The class data archive is used where it exists and matches this JVM, and silently skipped otherwise.
ENTRYPOINT ["java", "-XX:SharedArchiveFile=/app/reft-server.jsa", "-Xlog:cds=off", "-jar", "/app/reft-server.jar"]
