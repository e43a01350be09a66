#!/usr/bin/env bash
# Install the Tryton web client (npm package tryton-sao, 8.0.x to match
# trytond 8.0) into var/sao so that trytond can serve it from
#     [web] root = var/sao/node_modules/tryton-sao
#
# sao's index.html loads jquery, bootstrap, d3, billboard.js, moment,
# fullcalendar... from node_modules/ *beside itself*, so the dependencies
# must be installed nested inside the package (--install-strategy=nested);
# a default (hoisted) install puts them in var/sao/node_modules/ where the
# served page cannot reach them.
#
# Idempotent: does nothing if the requested version is already installed
# with its dependencies.  Environment:
#   SAO_VERSION  tryton-sao version to install (default 8.0.11; it must stay
#                8.0.x, sao refuses a server of another major.minor)
#   SAO_PREFIX   npm prefix (default <repo>/var/sao)
#   SAO_FORCE=1  reinstall even if already present
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAO_VERSION="${SAO_VERSION:-8.0.11}"
SAO_PREFIX="${SAO_PREFIX:-$ROOT/var/sao}"
SAO_DIR="$SAO_PREFIX/node_modules/tryton-sao"

case "$SAO_VERSION" in
    8.0.*) ;;
    *) echo "install_sao: SAO_VERSION=$SAO_VERSION is not 8.0.x;" \
            "sao must match the trytond 8.0 series" >&2; exit 1 ;;
esac

installed_version() {
    [ -f "$SAO_DIR/package.json" ] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version || "")' \
        "$SAO_DIR/package.json" 2>/dev/null || true
}

# every script/stylesheet that index.html takes from node_modules/ exists?
deps_complete() {
    [ -f "$SAO_DIR/index.html" ] || return 1
    local ref
    for ref in $(grep -oE '(src|href)="node_modules/[^"]+"' "$SAO_DIR/index.html" \
            | sed -E 's/^[a-z]+="([^"]+)"$/\1/'); do
        [ -f "$SAO_DIR/$ref" ] || return 1
    done
    [ -f "$SAO_DIR/dist/tryton-sao.js" ]
}

if ! command -v npm >/dev/null 2>&1; then
    echo "install_sao: npm is required (apt-get install npm, or nodejs >= 18)" >&2
    exit 1
fi

current="$(installed_version)"
if [ "${SAO_FORCE:-0}" != 1 ] && [ "$current" = "$SAO_VERSION" ] && deps_complete; then
    echo "install_sao: tryton-sao $SAO_VERSION already installed in $SAO_DIR"
else
    echo "install_sao: installing tryton-sao@$SAO_VERSION into $SAO_PREFIX" \
        "(was: ${current:-none})"
    mkdir -p "$SAO_PREFIX"
    npm install --prefix "$SAO_PREFIX" --install-strategy=nested \
        --no-audit --no-fund --loglevel=error \
        "tryton-sao@$SAO_VERSION"
    if ! deps_complete; then
        echo "install_sao: $SAO_DIR/index.html references files missing" \
            "under node_modules/ (nested install failed?)" >&2
        exit 1
    fi
fi

# index.html also loads custom.js and custom.css; without them trytond
# answers 405 for those URLs.  Keep any existing customisation.
touch "$SAO_DIR/custom.js" "$SAO_DIR/custom.css"
echo "install_sao: web root is $SAO_DIR"
