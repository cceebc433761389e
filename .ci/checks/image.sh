#!/usr/bin/env bash
# The image and the compose stack, built and run for real with no container registry.
#   image.sh                 everything (.ci/run, as root): engines from Debian, stand-in base images, the build
#                            (podman), the image's smoke test (podman), the compose stack (Debian's dockerd)
#   image.sh smoke IMAGE     the smoke test alone on an image already built (the GitHub workflow: ENGINE=docker)
#   image.sh compose IMAGE   the offline compose stack alone on an image already built
# ENGINE (podman or docker) runs the smoke test; COMPOSE is the Compose command (default: the docker-compose
# that ops.sh installs, else `docker compose`); MEMPOOL_WS_REDIS_IMAGE is the compose stack's Redis image.
# Registry images are never pulled: the bases are local stand-ins (../shared/docs/containers-offline.md),
# cached in .tools/containers and rebuilt only when what they are made from changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
mkdir -p .tools
state=$(realpath .tools)/containers   # no symlink in it (runc refuses a rootfs under one)
mode=${1:-all}
image=${2:-localhost/mempool-ws:ci}
ENGINE=${ENGINE:-podman}
project=mempool-ws-ci                 # compose project, and the prefix of every container this script starts
ns=localhost/mempool-ws-ci            # the stand-in images
uv_tag=$(sed -n 's/^ARG UV_TAG=//p' Dockerfile)
mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    head -1 | tr -d ' ') || true
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

die() { printf 'image: %s\n' "$*" >&2; exit 1; }
current=""
step() {  # step NAME COMMAND...: run one step and print its time (errexit: a failure ends the script)
    local started=$SECONDS
    current=$1
    shift
    "$@"
    printf 'ok   %s (%ds)\n' "$current" $((SECONDS - started))
    current=""
}
wait_for() {  # wait_for SECONDS WHAT COMMAND...: retry COMMAND every 0.5 s until it succeeds
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for $what" >&2; return 1; }
        sleep 0.5
    done
}
free_ports() {  # free_ports N: N distinct free loopback ports
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}
apt_install() {  # apt_install PACKAGE...: Debian's packages, the lists refreshed only when needed
    local quiet=(-y -qq --no-install-recommends -o Dpkg::Use-Pty=0)
    DEBIAN_FRONTEND=noninteractive apt-get install "${quiet[@]}" "$@" >"$work/apt.log" 2>&1 && return 0
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install "${quiet[@]}" "$@" >"$work/apt.log" 2>&1 ||
        { cat "$work/apt.log" >&2; return 1; }
}
http_ok() { curl -fsS -o /dev/null --max-time 3 "$1"; }
quiet() {  # quiet COMMAND...: its output only when it fails (podman without systemd logs errors about timers)
    "$@" >"$work/quiet.log" 2>&1 || { cat "$work/quiet.log" >&2; return 1; }
}

# --- clean-up: every container, the compose project, dockerd and redis-server this script started ----------

started_containers=() compose_up="" dockerd_pid="" redis_pid=""
cleanup() {
    local rc=$?
    set +e
    [ -z "$current" ] || printf 'FAIL %s\n' "$current" >&2
    if [ "$rc" -ne 0 ]; then
        for name in "${started_containers[@]}"; do
            echo "--- last log lines of $name"
            $ENGINE logs --tail 40 "$name" 2>&1 | sed 's/^/     /'
        done
        [ -z "$compose_up" ] || compose logs --no-color --tail 40 2>&1 | sed 's/^/     /'
    fi
    [ "${#started_containers[@]}" -eq 0 ] || $ENGINE rm -f "${started_containers[@]}" >/dev/null 2>&1
    [ -z "$compose_up" ] || compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1
    [ -z "$redis_pid" ] || { kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; }
    [ -z "$dockerd_pid" ] || stop_dockerd
    rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; }
    exit "$rc"
}
work=$(mktemp -d)
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- engines --------------------------------------------------------------------------------------------

podman_env() {  # rootful podman without systemd: runc, cgroupfs, file events, host network, our storage
    local nofile
    nofile=$(ulimit -Hn)
    mkdir -p "$state/podman"
    cat >"$state/podman/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$state/podman/events.log"
EOF
    cat >"$state/podman/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$state/podman/storage"
runroot = "$state/podman/run"
EOF
    export CONTAINERS_CONF=$state/podman/containers.conf CONTAINERS_STORAGE_CONF=$state/podman/storage.conf
}

install_engines() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    command -v dockerd >/dev/null || missing+=(docker.io)
    [ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
    podman_env
    echo "     $(podman --version), $(dockerd --version | cut -d, -f1)"
}

docker_dir=$state/docker
start_dockerd() {  # Debian's dockerd: no default bridge, no host iptables rules, data and socket under .tools
    mkdir -p "$docker_dir"
    if [ -s "$docker_dir/dockerd.pid" ] && kill -0 "$(cat "$docker_dir/dockerd.pid")" 2>/dev/null; then
        kill "$(cat "$docker_dir/dockerd.pid")"  # left by an interrupted run of this script (runs are serialized)
        wait_for 30 "the old dockerd to stop" test ! -e "$docker_dir/dockerd.pid"
    fi
    dockerd --host "unix://$docker_dir/docker.sock" --data-root "$docker_dir/root" --exec-root "$docker_dir/exec" \
        --pidfile "$docker_dir/dockerd.pid" --iptables=false --ip6tables=false --bridge=none \
        --storage-driver=overlay2 --containerd-namespace "$project" --containerd-plugins-namespace "$project-plugins" \
        >"$docker_dir/dockerd.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST=unix://$docker_dir/docker.sock
    wait_for 60 dockerd docker version || { tail -20 "$docker_dir/dockerd.log" >&2; return 1; }
}
stop_dockerd() {
    kill "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    dockerd_pid=""
    # dockerd leaves a bind of its data root and its default netns mounted: unmount all of it, deepest first
    awk -v dir="$docker_dir/" 'index($2, dir) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r -n1 umount
}

# --- stand-in base images (cached by a key of what each is made of) ---------------------------------------

key() { printf '%s\n' "$@" | sha256sum | cut -c1-12; }
prune_old() {  # prune_old REPOSITORY KEEP: drop the stand-ins a changed recipe replaced
    podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$1" | { grep -vxF "$2" || true; } |
        xargs -r podman rmi -f >/dev/null
}

python_base() {  # Debian bookworm (Python 3.11) for python:3.11-slim: minbase, updates and security, slim paths
    local sources=("deb $mirror bookworm main" "deb $mirror bookworm-updates main"
        "deb $mirror-security bookworm-security main")
    local slim=() path
    for path in man/ doc/ info/ locale/ groff/ lintian/ linda/; do slim+=("--dpkgopt=path-exclude=/usr/share/$path*"); done
    slim+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")
    local tag
    tag=$ns/python:bookworm-$(key "${sources[@]}" "${slim[@]}" "$(declare -f python_base)")
    python_image=$tag
    podman image exists "$tag" && return 0
    mmdebstrap --quiet --variant=minbase --include=python3,ca-certificates --mode=root --format=tar \
        "${slim[@]}" bookworm - "${sources[@]}" 2>"$work/mmdebstrap.log" |
        podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$tag" >/dev/null ||
        { tail -20 "$work/mmdebstrap.log" >&2; return 1; }
    prune_old "$ns/python" "$tag"
}

uv_base() {  # ghcr.io/astral-sh/uv: the same uv release from PyPI (static musl build), /uv and /uvx in scratch
    local tag
    tag=$ns/uv:$uv_tag-$(key "$(declare -f uv_base)")
    uv_image=$tag
    podman image exists "$tag" && return 0
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform musllinux_1_1_x86_64 -d "$work/uv" "uv==$uv_tag" 2>"$work/pip.log" ||
        { cat "$work/pip.log" >&2; return 1; }
    python3 - "$work/uv" <<'PY'
import glob, os, sys, zipfile
folder = sys.argv[1]
with zipfile.ZipFile(glob.glob(os.path.join(folder, "uv-*.whl"))[0]) as wheel:
    for name in ("uv", "uvx"):
        member = next(m for m in wheel.namelist() if m.endswith(f".data/scripts/{name}"))
        path = os.path.join(folder, name)
        open(path, "wb").write(wheel.read(member))
        os.chmod(path, 0o755)
PY
    tar -C "$work/uv" --owner=0 --group=0 -c uv uvx | podman import --quiet - "$tag" >/dev/null
    prune_old "$ns/uv" "$tag"
}

redis_base() {  # redis:7.4-alpine for the compose stack: Debian's redis-server on the Python stand-in
    local tag context=$work/redis
    tag=$ns/redis:bookworm-$(key "$python_image" "$(declare -f redis_base)")
    redis_image=$tag
    podman image exists "$tag" && return 0
    mkdir -p "$context"
    # Like the official image's entry point: protected mode off (the container's network is the boundary).
    cat >"$context/docker-entrypoint.sh" <<'SH'
#!/bin/sh
if [ "$1" = redis-server ]; then shift; set -- redis-server --protected-mode no "$@"; fi
exec "$@"
SH
    cat >"$context/Containerfile" <<EOF
FROM $python_image
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server redis-tools \\
    && rm -rf /var/lib/apt/lists/*
COPY --chmod=755 docker-entrypoint.sh /usr/local/bin/
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
    podman build --quiet --format docker --network host --pull=never -t "$tag" "$context" >"$work/redis-build.log" 2>&1 ||
        { tail -20 "$work/redis-build.log" >&2; return 1; }
    prune_old "$ns/redis" "$tag"
}

build_image() {
    local args=(--format docker --network host --pull=never
        --build-arg "PYTHON_IMAGE=${python_image%:*}" --build-arg "PYTHON_TAG=${python_image##*:}"
        --build-arg "UV_IMAGE=${uv_image%:*}" --build-arg "UV_TAG=${uv_image##*:}")
    local ca=/etc/ssl/certs/ca-certificates.crt
    if [ -r "$ca" ]; then
        # A TLS-inspecting proxy's CA, for uv in the build only: the host's bundle over the base's (same path),
        # and a uv config asking for the system store, under /root (a folder every base has, so nothing remains).
        mkdir -p "$state/build-home/.config/uv"
        echo 'system-certs = true' >"$state/build-home/.config/uv/uv.toml"
        args+=(-v "$ca:$ca:ro" -v "$state/build-home:/root:ro")
    fi
    podman build "${args[@]}" -t "$image" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; return 1; }
    podman image prune --force --filter until=72h >/dev/null  # build cache older than 3 days
    echo "     $image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1 / 1e6}')"
}

# --- the smoke test of one image ------------------------------------------------------------------------

mcp() {  # mcp URL tools|block|live: an MCP client (the official SDK, in the project's environment) at URL
    uv run --frozen --quiet python - "$@" <<'PY'
import asyncio, sys
import yaml
from mcp import Client

url, what = sys.argv[1], sys.argv[2]

async def main() -> None:
    async with Client(url) as client:
        if what == "tools":
            served = sorted(tool.name for tool in (await client.list_tools()).tools)
            expected = sorted(tool["name"] for tool in yaml.safe_load(open("catalog.yaml"))["tools"])
            assert served == expected, f"tools/list gave {served}, catalog.yaml has {expected}"
            print(f"     tools/list: {', '.join(served)}")
            return
        args = {"want": False} if what == "block" else {"max_events": 1, "timeout_s": 60}
        result = await client.call_tool("stream_blocks", args)
        assert not result.is_error, result.content
        events = result.structured_content["events"]
        assert events and "height" in events[-1]["data"], f"no block in {result.structured_content}"
        print(f"     stream_blocks: block {events[-1]['data']['height']}")

asyncio.run(main())
PY
}

run_container() {  # run_container NAME ENV... -- COMMAND...: one hardened container of $image on the host network
    local name=$project-$1 envs=()
    shift
    while [ "$1" != -- ]; do envs+=(-e "$1"); shift; done
    shift
    $ENGINE rm -f "$name" >/dev/null 2>&1 || true
    started_containers+=("$name")
    quiet "$ENGINE" run -d --name "$name" --network host --read-only --tmpfs /tmp --cap-drop ALL \
        --security-opt no-new-privileges "${envs[@]}" "$image" "$@"
}

start_redis() {
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$work/redis.pid" --logfile "$work/redis.log" --dir "$work"
    wait_for 10 redis-server redis-cli -p "$redis_port" ping
    redis_pid=$(cat "$work/redis.pid")
}

start_daemons() {
    local redis_url=redis://127.0.0.1:$redis_port/0
    run_container sim -- mempool-ws sim --host 127.0.0.1 --port "$sim_port" --speed 600
    wait_for 60 "the simulator" http_ok "http://127.0.0.1:$sim_port/api/v1/blocks/tip/height"
    run_container ingestor "MEMPOOL_WS_REDIS_URL=$redis_url" "MEMPOOL_WS_UPSTREAM_URL=ws://127.0.0.1:$sim_port/api/v1/ws" \
        MEMPOOL_WS_METRICS_HOST=127.0.0.1 "MEMPOOL_WS_METRICS_PORT=$metrics_port" -- python -m ingestor
    run_container gateway "MEMPOOL_WS_REDIS_URL=$redis_url" MEMPOOL_WS_HOST=127.0.0.1 \
        "MEMPOOL_WS_PORT=$gateway_port" --
}

both_ready() { http_ok "$gateway/readyz" && http_ok "http://127.0.0.1:$metrics_port/readyz"; }
ready() { wait_for 90 "/readyz of the gateway and the ingestor" both_ready; }

uid_is_10001() {
    local uid
    uid=$($ENGINE exec "$project-gateway" id -u)
    [ "$uid" = 10001 ] || { echo "id -u is $uid" >&2; return 1; }
}

refuses_write() {  # refuses_write PATH: even root inside the container cannot write PATH
    local out
    if out=$($ENGINE exec --user 0 "$project-gateway" sh -c "echo x > $1" 2>&1); then
        echo "a write to $1 succeeded" >&2
        return 1
    fi
    grep -q "Read-only file system" <<<"$out" || { echo "a write to $1 failed, but not as read-only: $out" >&2; return 1; }
}
read_only_root() { refuses_write /probe && refuses_write /opt/probe; }

health_status() { [ "$($ENGINE inspect -f '{{.State.Health.Status}}' "$1")" = healthy ]; }
healthy() {  # the image's HEALTHCHECK passes in the gateway and in the ingestor
    local name
    for name in gateway ingestor; do
        if [ "$ENGINE" = podman ]; then  # no systemd timers here: run the check now
            wait_for 60 "$name healthy" podman healthcheck run "$project-$name"
        else                             # the daemon runs it at the image's interval
            wait_for 90 "$name healthy" health_status "$project-$name"
        fi
    done
}

block_key() { [ "$(redis-cli -p "$redis_port" exists mempool:mainnet:blocks:latest)" = 1 ]; }
published() { wait_for 60 "mempool:mainnet:blocks:latest in Redis" block_key; }

stops_cleanly() {  # SIGTERM (the engine's stop) ends each daemon with exit code 0
    local name code
    for name in gateway ingestor sim; do
        quiet "$ENGINE" stop -t 30 "$project-$name"
        code=$($ENGINE inspect -f '{{.State.ExitCode}}' "$project-$name")
        [ "$code" = 0 ] || { echo "$name exited with $code after SIGTERM" >&2; return 1; }
    done
}

smoke() {
    [ "$ENGINE" != podman ] || podman_env
    read -r redis_port sim_port metrics_port gateway_port <<<"$(free_ports 4)"
    gateway=http://127.0.0.1:$gateway_port
    step "smoke: redis-server on 127.0.0.1:$redis_port" start_redis
    step "smoke: simulator, ingestor and gateway from $image ($ENGINE, read-only, no capabilities)" start_daemons
    step "smoke: /readyz 200 (gateway and ingestor)" ready
    step "smoke: MCP tools/list gives the catalog's tools" mcp "$gateway/mcp" tools
    step "smoke: id -u is 10001" uid_is_10001
    step "smoke: read-only root (root's writes to / and /opt refused)" read_only_root
    step "smoke: HEALTHCHECK healthy (gateway and ingestor)" healthy
    step "smoke: python -m ingestor publishes the simulator's blocks to Redis" published
    step "smoke: MCP stream_blocks (want=false) through the gateway" mcp "$gateway/mcp" block
    step "smoke: SIGTERM gives exit code 0 (gateway, ingestor, simulator)" stops_cleanly
    quiet "$ENGINE" rm -f "${started_containers[@]}"
    started_containers=()
}

# --- the compose stack ------------------------------------------------------------------------------------

compose() {
    local cmd=(docker compose)
    if [ -n "${COMPOSE:-}" ]; then read -r -a cmd <<<"$COMPOSE"
    elif [ -x "$root/.tools/venv/bin/docker-compose" ]; then cmd=("$root/.tools/venv/bin/docker-compose"); fi
    "${cmd[@]}" -p "$project" -f docker-compose.yml --env-file deploy/compose/offline.env "$@"
}

load_images() {  # the podman-built images into dockerd (skipped when it already has them)
    local name missing=()
    for name in "$@"; do
        [ "$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null)" = "sha256:$(podman image inspect -f '{{.Id}}' "$name")" ] ||
            missing+=("$name")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    podman save --quiet --format docker-archive -m "${missing[@]}" | docker load -q >/dev/null
    docker image prune --force >/dev/null  # the versions just replaced
}

compose_up() {
    compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1 || true  # an interrupted earlier run
    compose_up=1
    compose up --detach --no-build --wait --wait-timeout 180 >"$work/compose.log" 2>&1 ||
        { cat "$work/compose.log" >&2; return 1; }
    compose ps --format '{{.Service}}: {{.Status}}' | sed 's/^/     /'
}

compose_stop() {  # SIGTERM to every service: each exits 0
    local id bad=0
    quiet compose stop --timeout 30
    for id in $(compose ps --all --quiet); do
        [ "$(docker inspect -f '{{.State.ExitCode}}' "$id")" = 0 ] ||
            { docker inspect -f '{{.Name}} exited with {{.State.ExitCode}}' "$id" >&2; bad=1; }
    done
    return "$bad"
}

compose_down() {  # down, then ask the engine: no container, network or volume of the project remains
    local left label=label=com.docker.compose.project=$project
    compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1
    compose_up=""
    left=$(docker ps -a -q --filter "$label"; docker network ls -q --filter "$label"; docker volume ls -q --filter "$label")
    [ -z "$left" ] || { echo "left behind: $left" >&2; return 1; }
}

compose_stack() {
    local port
    port=$(free_ports 1)
    export MEMPOOL_WS_IMAGE=$image MEMPOOL_WS_GATEWAY_PORT=$port MEMPOOL_WS_SIM_SPEED=600
    export MEMPOOL_WS_REDIS_IMAGE=${MEMPOOL_WS_REDIS_IMAGE:-redis:7.4-alpine}
    step "compose: up --wait (offline profile; Redis image $MEMPOOL_WS_REDIS_IMAGE)" compose_up
    step "compose: MCP stream_blocks (want=true) at 127.0.0.1:$port/mcp gets a new block" \
        mcp "http://127.0.0.1:$port/mcp" live
    step "compose: stop: every service exits 0 on SIGTERM" compose_stop
    step "compose: down leaves no container, network or volume" compose_down
}

# --- main -----------------------------------------------------------------------------------------------

started=$SECONDS
case "$mode" in
    all)
        [ "$(id -u)" = 0 ] || die "needs root (Debian packages, rootful podman, dockerd)"
        mkdir -p "$state"
        exec 9>"$state/lock"
        flock -w 1800 9 || die "another image.sh holds $state/lock"
        step "engines: podman, mmdebstrap and docker.io from Debian" install_engines
        step "stand-in for python:3.11-slim (Debian bookworm, mmdebstrap)" python_base
        step "stand-in for ghcr.io/astral-sh/uv:$uv_tag (the PyPI wheel)" uv_base
        step "build $image (podman build --format docker)" build_image
        smoke
        step "stand-in for redis:7.4-alpine (Debian's redis-server)" redis_base
        step "dockerd (Debian's docker.io; for compose)" start_dockerd
        step "the images into dockerd" load_images "$image" "$redis_image"
        MEMPOOL_WS_REDIS_IMAGE=$redis_image compose_stack
        step "stop dockerd" stop_dockerd
        ;;
    smoke) smoke ;;
    compose) compose_stack ;;
    *) die "usage: image.sh [all | smoke IMAGE | compose IMAGE]" ;;
esac
echo "image: all checks passed in $((SECONDS - started)) s"
