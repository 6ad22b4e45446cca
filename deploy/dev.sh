#!/usr/bin/env bash
# Development entry point: needs only Python 3.11 or 3.12, pip and a shell.
#
#   deploy/dev.sh up   [aiops up options]   start the whole system (Ctrl-C stops it)
#   deploy/dev.sh test [pytest options]     run the test suite
#
# Creates .venv on first use and installs the project with the versions in requirements.lock
# (one lock for Python 3.11 and 3.12, markers where they differ); reinstalls only when
# pyproject.toml or requirements.lock changed. Set PYTHON=/path/to/python3.12 to choose the
# interpreter. Regenerate the lock after changing dependencies:
#   uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
#       --no-header -o requirements.lock
set -euo pipefail

cd "$(dirname "$0")/.."

VENV=.venv
LOCK=requirements.lock
STAMP="$VENV/.installed.sha256"

die() {
    echo "deploy/dev.sh: $*" >&2
    exit 1
}

supported() {
    # Bytewax 0.21.1 publishes wheels up to Python 3.12.
    "$1" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' \
        2>/dev/null
}

version_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "unknown"
}

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && supported "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    local found="none"
    if command -v python3 >/dev/null 2>&1; then
        found="python3 is $(version_of python3)"
    fi
    die "AI Ops needs Python 3.11 or 3.12 (Bytewax has no wheels for 3.13 or newer); $found.
Install Python 3.12 (e.g. 'apt install python3.12 python3.12-venv', 'brew install python@3.12'
or 'pyenv install 3.12') or point PYTHON at one: PYTHON=/path/to/python3.12 deploy/dev.sh ..."
}

ensure_venv() {
    if [[ -x "$VENV/bin/python" ]]; then
        supported "$VENV/bin/python" || die "$VENV uses Python $(version_of "$VENV/bin/python"), \
which AI Ops does not support; remove it ('rm -rf $VENV') and run this again"
        return 0
    fi
    local python
    python=$(find_python)
    echo "Creating $VENV with $python (Python $(version_of "$python"))" >&2
    "$python" -m venv "$VENV" || die "could not create $VENV; on Debian/Ubuntu install the \
venv module first (e.g. 'apt install python$(version_of "$python")-venv')"
}

ensure_installed() {
    local want
    [[ -f "$LOCK" ]] || die "$LOCK is missing; it pins the versions the tests ran with"
    want=$("$VENV/bin/python" -c '
import hashlib, sys
digest = hashlib.sha256()
for name in sys.argv[1:]:
    digest.update(open(name, "rb").read())
print(digest.hexdigest())' pyproject.toml "$LOCK")
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
        return 0
    fi
    echo "Installing AI Ops and its dependencies into $VENV (pyproject.toml or $LOCK changed)" >&2
    "$VENV/bin/python" -m pip install --quiet -c "$LOCK" -e ".[dev]" \
        || die "installing the project failed (see pip's message above)"
    echo "$want" >"$STAMP"
}

usage() {
    cat <<'USAGE'
Usage:
  deploy/dev.sh up   [aiops up options]   start the whole system (Ctrl-C stops it)
  deploy/dev.sh test [pytest options]     run the test suite
USAGE
    exit "${1:-0}"
}

[[ $# -ge 1 ]] || usage 2
command=$1
shift
case "$command" in
    up)
        ensure_venv
        ensure_installed
        exec "$VENV/bin/aiops" up "$@"
        ;;
    test)
        ensure_venv
        ensure_installed
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    -h | --help | help)
        usage 0
        ;;
    *)
        echo "deploy/dev.sh: unknown command '$command'" >&2
        usage 2
        ;;
esac
