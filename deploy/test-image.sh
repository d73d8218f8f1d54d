#!/usr/bin/env bash
# Builds the sidecar's image from deploy/Containerfile with podman, then runs it the way the
# Kubernetes pod does (deploy/kubernetes/: user 10001, read-only root filesystem, the ledger on
# a volume) and checks it from outside: /healthz and /readyz answer, a signal is recorded, the
# container stops cleanly on SIGTERM, and the host's `autonomic verify` accepts the ledger the
# container wrote. `.ci/run` runs it; by hand: `bash deploy/test-image.sh` (as root, podman
# installed). Bounded: every wait below has a limit and the script stops by itself.
#
# Base images. The Containerfile names docker.io/library/rust:1-slim-bookworm (builder) and
# docker.io/library/debian:bookworm-slim (runtime). The script uses them when podman has them or
# can pull them. Where no registry is reachable (CI here reaches only Debian's mirror), it
# builds stand-ins under the same names with debootstrap (Debian bookworm, minbase; the builder
# adds gcc) and lends the builder the host's Rust toolchain and CA certificates read-only
# (`podman build -v`), so the Containerfile itself is built unchanged. The stand-ins are larger
# than the slim images, so the size printed at the end is an upper bound.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=localhost/autonomic:test
BUILDER=docker.io/library/rust:1-slim-bookworm
RUNTIME=docker.io/library/debian:bookworm-slim
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=target/tmp/image-test
SKIPPED=target/tmp/skipped-tests.txt
mkdir -p "$WORK"

say() { printf 'image test: %s\n' "$*"; }
fail() { say "FAILED: $*"; exit 1; }

for tool in podman debootstrap curl; do
  if ! command -v "$tool" >/dev/null; then
    line="SKIPPED deploy/test-image.sh: $tool is not on PATH (apt-get install podman runc debootstrap curl)"
    echo "$line" >&2
    echo "$line" >>"$SKIPPED"
    if [ -n "${CI:-}" ]; then exit 1; fi
    exit 0
  fi
done

# Explicit limits for the containers run here: podman's defaults raise the open-files and
# process limits above what some sandboxes (these CI machines among them) allow, and the run fails.
limits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

# crun refuses a host whose cgroups are in hybrid mode (v1 controllers beside v2); runc runs there.
podman=(podman)
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] && command -v runc >/dev/null; then
  podman=(podman --runtime "$(command -v runc)")
fi

# A stand-in base image named $1, from a debootstrap of bookworm with the packages $2 (comma
# separated, may be empty) and the Containerfile `--change` lines that follow.
stand_in() {
  local name=$1 include=$2 root
  shift 2
  root=$(mktemp -d "$WORK/root.XXXXXX")
  say "building stand-in $name with debootstrap from $MIRROR"
  timeout 900 debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$root" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -5 "$WORK/debootstrap.log"; fail "debootstrap"; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
    "$root"/usr/share/man "$root"/usr/share/locale
  tar -C "$root" -c . | podman import "$@" - "$name" >"$WORK/import.log" 2>&1 ||
    { cat "$WORK/import.log"; fail "podman import"; }
  rm -rf "$root"
}

# Whether podman has image $1 or can pull it within a minute.
have_or_pull() {
  podman image exists "$1" || timeout 60 podman pull -q "$1" >/dev/null 2>&1
}

# Whether image $1 is one of this script's stand-ins.
is_stand_in() {
  [ "$(podman image inspect --format '{{index .Labels "autonomic.stand-in"}}' "$1")" = debootstrap ]
}

have_or_pull "$BUILDER" ||
  stand_in "$BUILDER" gcc,libc6-dev,ca-certificates \
    --change 'LABEL autonomic.stand-in=debootstrap' \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
have_or_pull "$RUNTIME" || stand_in "$RUNTIME" "" --change 'LABEL autonomic.stand-in=debootstrap'
build_volumes=()
if is_stand_in "$BUILDER"; then
  rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
  cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
  [ -d "$rustup_home" ] && [ -x "$cargo_bin/cargo" ] || fail "no host toolchain at $rustup_home, $cargo_bin"
  build_volumes=(-v "$rustup_home:/usr/local/rustup:ro" -v "$cargo_bin:/usr/local/cargo/bin:ro")
  say "builder: stand-in $BUILDER with the host's toolchain ($(rustc --version))"
fi
is_stand_in "$RUNTIME" && say "runtime: stand-in $RUNTIME"
# The host's CA certificates: a TLS-intercepting proxy the host trusts is trusted by the build.
if [ -d /etc/ssl/certs ]; then build_volumes+=(-v /etc/ssl/certs:/etc/ssl/certs:ro); fi

# The host's build of the same sources: its --version is the image's, and it verifies the
# ledger the container writes.
cargo build -q --release -p autonomic-tokio --bin autonomic

say "podman build -f deploy/Containerfile"
started=$(date +%s)
timeout 2400 "${podman[@]}" build --pull=never -f deploy/Containerfile \
  --ignorefile deploy/Containerfile.dockerignore "${build_volumes[@]}" -t "$IMAGE" . \
  >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; fail "podman build"; }
say "built $IMAGE in $(($(date +%s) - started)) s"

# The image's metadata agrees with the pod (runAsUser 10001, port 7411).
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = 10001:10001 ] || fail "image user is '$user', expected 10001:10001"
entrypoint=$(podman image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")
[ "$entrypoint" = '["/usr/local/bin/autonomic"]' ] || fail "entrypoint is $entrypoint"
podman image inspect --format '{{json .Config.ExposedPorts}}' "$IMAGE" | grep -q '7411/tcp' ||
  fail "port 7411 not exposed"
version=$("${podman[@]}" run --rm "${limits[@]}" "$IMAGE" --version)
[ "$version" = "$(./target/release/autonomic --version)" ] ||
  fail "image says '$version', the host build '$(./target/release/autonomic --version)'"
say "runs: $version, as $user"

# Run it as the pod does: read-only root, the data dir a volume owned by 10001. Host network,
# port 0: the sidecar writes the address it bound to listen.addr in the data dir.
data=$(mktemp -d "$PWD/$WORK/data.XXXXXX")
chown 10001:10001 "$data"
name=autonomic-image-test-$$
cleanup() { podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
"${podman[@]}" run -d --name "$name" "${limits[@]}" --read-only --network host -v "$data:/var/lib/autonomic" \
  "$IMAGE" run --data-dir /var/lib/autonomic --listen 127.0.0.1:0 >/dev/null
for _ in $(seq 100); do [ -s "$data/listen.addr" ] && break; sleep 0.1; done
[ -s "$data/listen.addr" ] || { podman logs "$name" | tail -20; fail "no listen.addr after 10 s"; }
addr=$(cat "$data/listen.addr")
curl -sf --max-time 5 "http://$addr/healthz" >/dev/null || fail "/healthz"
curl -sf --max-time 5 "http://$addr/readyz" >/dev/null || fail "/readyz"
now_ms=$(($(date +%s%N) / 1000000))
curl -sf --max-time 5 -XPOST "http://$addr/v1/tenants/acme/activate" \
  -H 'content-type: application/json' -d '{"sku":"pro"}' >/dev/null || fail "activate"
answer=$(curl -sf --max-time 5 -XPOST "http://$addr/v1/signals" -H 'content-type: application/json' \
  -d "{\"tenant\":\"acme\",\"metric\":\"cpu\",\"value\":80,\"ts_ms\":$now_ms}") || fail "signal"
echo "$answer" | grep -q '"to":"Warn"' || fail "signal answer: $answer"
say "answered on $addr: /healthz, /readyz, an activation and a signal ($answer)"

# SIGTERM (podman stop) ends it cleanly, then the host verifies what the container wrote.
podman stop -t 20 "$name" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || { podman logs "$name" | tail -20; fail "exit code $code after SIGTERM"; }
owner=$(stat -c %u "$data/ledger.log")
[ "$owner" = 10001 ] || fail "ledger.log owned by uid $owner, expected 10001"
./target/release/autonomic verify --data-dir "$data" || fail "autonomic verify"
receipts=$(./target/release/autonomic ledger --data-dir "$data" | wc -l)
[ "$receipts" -ge 2 ] || fail "$receipts receipts, expected the activation and the transition"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
say "PASSED: exit 0 on SIGTERM, $receipts receipts verified, image $((size / 1024 / 1024)) MiB"
rm -rf "$data"
