#!/usr/bin/env bash
# Checks that vendor/stateright is exactly stateright 0.31.0 as published on crates.io with the
# patch series vendor/patches/stateright/0*.patch applied in order (vendor/README.md):
# same files, same bytes, same executable bits. Exits non-zero, with the difference, otherwise.
#
# The published crate is cargo's own download (registry cache, $CARGO_HOME/registry/cache),
# checked against the checksum crates.io publishes for it. When cargo has not downloaded it yet
# (the workspace patches stateright to the path, so a build never does), a scratch crate that
# depends on `stateright = "=0.31.0"` is fetched with `cargo fetch`; with the .crate already in
# the cache nothing touches the network.
#
# Usage: vendor/patches/check-stateright.sh [--test-each | --upstream | --diff]
#   --test-each  also runs the crate's lib tests on the tree after each patch (slow; for
#                whoever edits the series).
#   --upstream   instead applies each patch of vendor/patches/stateright/upstream/ alone to the
#                published crate and runs its lib tests there (slow; the published crate's own
#                Cargo.lock, dev-dependencies included).
#   --diff       prints, as a patch for `git apply`, what vendor/stateright has that the series
#                does not: after a change to the tree, the body of the next patch (add the
#                what/why/test header and save it as vendor/patches/stateright/000N-name.patch).
# Environment: KEEP=1 leaves the patched tree in the temporary directory printed at the end.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
vendored="$root/vendor/stateright"
series="$root/vendor/patches/stateright"
version=0.31.0
# crates.io's checksum of stateright-0.31.0.crate (its index entry; also in any Cargo.lock
# that resolves it from the registry).
sha256=fd1157f21b11916f90fe1f2ac9a8d0e09a8813b28701584141060f414eedf6ba
test_each=0
upstream=0
diff_only=0
case "${1:-}" in
  --test-each) test_each=1 ;;
  --upstream) upstream=1 ;;
  --diff) diff_only=1 ;;
  "") ;;
  *) echo "usage: $0 [--test-each | --upstream | --diff]"; exit 2 ;;
esac

tmp="$(mktemp -d "${TMPDIR:-/tmp}/check-stateright.XXXXXX")"
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$tmp"' EXIT; fi

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
find_crate() {
  ls "$cargo_home"/registry/cache/*/stateright-$version.crate 2>/dev/null | head -n 1 || true
}
crate="$(find_crate)"
if [ -z "$crate" ]; then
  echo "stateright $version is not in cargo's cache ($cargo_home/registry/cache): fetching it with cargo"
  mkdir -p "$tmp/fetch/src"
  cat > "$tmp/fetch/Cargo.toml" <<EOF
[package]
name = "fetch-stateright"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
stateright = "=$version"

[workspace]
EOF
  : > "$tmp/fetch/src/lib.rs"
  host="$(rustc -vV | sed -n 's/^host: //p')"
  (cd "$tmp/fetch" && cargo fetch --quiet --target "$host")
  crate="$(find_crate)"
  [ -n "$crate" ] || { echo "cargo fetch did not leave stateright-$version.crate in $cargo_home/registry/cache"; exit 1; }
fi
actual_sha="$(sha256sum "$crate" | cut -d' ' -f1)"
if [ "$actual_sha" != "$sha256" ]; then
  echo "$crate has sha256 $actual_sha, not crates.io's $sha256"
  exit 1
fi

tar -xzf "$crate" -C "$tmp"
tree="$tmp/stateright-$version"

if [ "$upstream" = 1 ]; then
  for patch in "$series"/upstream/0*.patch; do
    echo "=== $(basename "$patch") alone on the published crate"
    rm -rf "$tree" && tar -xzf "$crate" -C "$tmp"
    GIT_CEILING_DIRECTORIES="$tmp" git -C "$tree" apply "$patch"
    find "$tree" -type f -exec touch {} +
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/stateright-upstream}" \
      cargo test --manifest-path "$tree/Cargo.toml" --locked --lib -q
  done
  exit 0
fi
patches=("$series"/0*.patch)
[ -e "${patches[0]}" ] || { echo "no patches in $series"; exit 1; }

run_tests() {
  # Files a patch leaves alone keep the crate's old timestamps: touch them all so that cargo,
  # which compares timestamps, does not take the previous tree's test binary for this one's.
  find "$tree" -type f -exec touch {} +
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/vendor-stateright}" \
    cargo test --manifest-path "$tree/Cargo.toml" --locked --lib -q
}

for patch in "${patches[@]}"; do
  echo "applying $(basename "$patch")" >&2
  # Outside any repository (a TMPDIR inside one would make git apply skip paths).
  if ! GIT_CEILING_DIRECTORIES="$tmp" git -C "$tree" apply --whitespace=nowarn "$patch"; then
    echo "$(basename "$patch") does not apply to the tree before it"
    exit 1
  fi
  if [ "$test_each" = 1 ]; then
    echo "testing the tree after $(basename "$patch")"
    run_tests
  fi
done

if [ "$diff_only" = 1 ]; then
  repo="$tmp/diff"
  mkdir -p "$repo"
  cp -a "$tree"/. "$repo"/
  g() { GIT_CEILING_DIRECTORIES="$tmp" git -C "$repo" -c user.name=check -c user.email=check@localhost "$@"; }
  g init -q && g add -A -f . && g commit -q -m series
  find "$repo" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
  (cd "$vendored" && tar --exclude=./target -cf - .) | tar -xf - -C "$repo"
  g add -A -f . && g diff --cached --full-index --binary --patch-with-stat --stat-width=100 HEAD
  exit 0
fi

status=0
# Contents and the file set (a build's target/ directory inside the copy is not part of it).
if ! diff -r -u --exclude=target "$tree" "$vendored"; then
  status=1
fi
# Executable bits.
modes() { (cd "$1" && find . -path ./target -prune -o -type f -printf '%P %m\n' \
  | awk '{ x = (substr($2, 1, 1) % 2) ? "x" : "-"; print $1, x }' | sort); }
if ! diff -u <(modes "$tree") <(modes "$vendored"); then
  echo "executable bits differ (above: published + series, then vendor/stateright)"
  status=1
fi

if [ "$status" != 0 ]; then
  echo
  echo "vendor/stateright is not stateright $version + vendor/patches/stateright (differences above:"
  echo "--- published + series, +++ vendor/stateright). Change the tree through a patch: see vendor/README.md."
  exit 1
fi
echo "vendor/stateright == stateright $version (sha256 ${sha256:0:12}...) + ${#patches[@]} patches"
if [ "${KEEP:-0}" = 1 ]; then echo "patched tree left in $tree"; fi
