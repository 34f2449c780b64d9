#!/usr/bin/env bash
# npm run setup: everything mcp-host needs on a fresh Debian machine, idempotent — a second run
# only checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
mkdir -p "$TOOLS/bin" .data
step() { printf '==> %s\n' "$*"; }

# 1. Node dependencies, reinstalled only when the lockfile changed.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -d node_modules ] && [ "$(cat "$TOOLS/npm-ci.stamp" 2>/dev/null)" = "$lock_sum" ]; then
  step "node modules up to date"
else
  step "npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_sum" > "$TOOLS/npm-ci.stamp"
fi

# 2. Debian packages: dockerd, a registry, qemu binfmt for arm64 builds, static busybox for base images,
#    etcd for the test stack's Kubernetes API server.
PACKAGES=(docker.io docker-registry qemu-user-static binfmt-support busybox-static git ca-certificates perl etcd-server)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  step "debian packages present"
else
  step "apt-get install ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# arm64 emulation: make sure the kernel knows the qemu handler (best effort; only arm64 builds need it).
if [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  update-binfmts --enable qemu-aarch64 2>/dev/null || echo "warning: could not enable qemu-aarch64 binfmt; arm64 builds will fail"
fi

# 3. Temporal CLI (dev server), built from source with the Go toolchain: its own download needs the internet.
GO=$(command -v go || echo /usr/local/go/bin/go)
if [ -x "$TOOLS/bin/temporal" ] && [ -f "$TOOLS/temporal.version" ]; then
  step "temporal CLI present ($(cat "$TOOLS/temporal.version"))"
else
  built=
  for tag in v1.5.1 v1.4.1 v1.3.0; do
    step "go install temporal CLI $tag (first time only; a few minutes)"
    if GOBIN=$TOOLS/bin "$GO" install "github.com/temporalio/cli/cmd/temporal@$tag"; then
      echo "$tag" > "$TOOLS/temporal.version"; built=$tag; break
    fi
  done
  [ -n "$built" ] || { echo "error: could not build the Temporal CLI with $GO" >&2; exit 1; }
fi

# 4. kube-apiserver for the Kubernetes tests, built from the published Kubernetes modules (no release
#    binary can be downloaded here). Rebuilt only when tools/kube-apiserver's go.mod/go.sum change.
k8s_version() { awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' tools/kube-apiserver/go.mod; }
kube_sum=$(cat tools/kube-apiserver/go.mod tools/kube-apiserver/go.sum tools/kube-apiserver/main.go | sha256sum | cut -d' ' -f1)
if [ -x "$TOOLS/bin/kube-apiserver" ] && [ "$(cat "$TOOLS/kube-apiserver.stamp" 2>/dev/null)" = "$kube_sum" ]; then
  step "kube-apiserver present ($(k8s_version))"
else
  step "go build kube-apiserver (first time only; ~5 CPU-minutes)"
  version=$(k8s_version)
  (cd tools/kube-apiserver && nice -n 10 "$GO" build -trimpath \
    -ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)" \
    -o "$TOOLS/bin/kube-apiserver" .)
  echo "$kube_sum" > "$TOOLS/kube-apiserver.stamp"
fi

step "setup complete"
