#!/usr/bin/env bash
# Refreshes or checks the web dashboard's vendored charting library.
#
#   dashboards/update-vendor.sh           fetch the version pinned in
#                                         package-lock.json with npm, verify it,
#                                         copy it into web/vendor/, write SHA256SUMS
#   dashboards/update-vendor.sh --verify  fetch and verify as above, then check
#                                         that web/vendor/ holds exactly those
#                                         bytes (writes nothing)
#   dashboards/update-vendor.sh --check   offline: web/vendor/ matches SHA256SUMS,
#                                         and SHA256SUMS, the file's banner,
#                                         package.json and package-lock.json name
#                                         the same version and tarball integrity
#
# The chain of trust: package-lock.json records the registry tarball's
# integrity (sha512). The tarball npm fetches is checked against it (by npm
# and again here), the dist file and licences are taken from that tarball,
# and their sha256 go into web/vendor/SHA256SUMS together with the lock's
# integrity string, so --check (run by the test integration.dashboard_vendor,
# without network) ties the committed bytes to the lock.
#
# To move to another version: edit the exact version in package.json, run
# `npm install --package-lock-only --ignore-scripts` in dashboards/, then this
# script, and commit package.json, package-lock.json and web/vendor/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
vendor=$here/web/vendor
pkg=chart.js
files=(chart.umd.min.js LICENSE-chart.js.md LICENSE-kurkle-color.md)
mode=${1:-update}

die() { echo "update-vendor: $*" >&2; exit 1; }

# lock_field PACKAGE_PATH FIELD: a field of package-lock.json's packages map
lock_field() {
  python3 - "$here/package-lock.json" "$1" "$2" <<'PY'
import json, sys
lock = json.load(open(sys.argv[1]))
print(lock["packages"][sys.argv[2]][sys.argv[3]])
PY
}

version=$(lock_field "node_modules/$pkg" version)
integrity=$(lock_field "node_modules/$pkg" integrity)
wanted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"][sys.argv[2]])' \
  "$here/package.json" "$pkg")
[ "$wanted" = "$version" ] ||
  die "package.json pins $pkg $wanted but package-lock.json has $version (run npm install --package-lock-only)"

check_offline() {
  [ -f "$vendor/SHA256SUMS" ] || die "web/vendor/SHA256SUMS missing"
  (cd "$vendor" && sha256sum --quiet --strict -c SHA256SUMS) || die "web/vendor/ differs from SHA256SUMS"
  for f in "${files[@]}"; do
    grep -q "  $f\$" "$vendor/SHA256SUMS" || die "SHA256SUMS does not list $f"
  done
  grep -qxF "# $pkg $version $integrity" "$vendor/SHA256SUMS" ||
    die "SHA256SUMS was not written for $pkg $version with the lock's integrity"
  head -c 200 "$vendor/chart.umd.min.js" | grep -q "Chart.js v$version\$" ||
    die "chart.umd.min.js is not Chart.js v$version"
  echo "update-vendor: web/vendor/ holds $pkg $version as locked ($integrity)"
}

if [ "$mode" = --check ]; then
  check_offline
  exit 0
fi
[ "$mode" = update ] || [ "$mode" = --verify ] || die "usage: update-vendor.sh [--verify|--check]"
command -v npm >/dev/null || die "npm not found (needed only to refresh the vendored files)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
# npm ci installs exactly the lock and refuses a tarball whose sha512 differs
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
# and the same check by hand on the tarball itself
(cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
tarball="$tmp/$pkg-$version.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$got" = "$integrity" ] || die "tarball integrity $got differs from the lock's $integrity"
mkdir "$tmp/unpacked"
tar -xzf "$tarball" -C "$tmp/unpacked"
nm=$tmp/node_modules
cmp -s "$tmp/unpacked/package/dist/chart.umd.min.js" "$nm/$pkg/dist/chart.umd.min.js" ||
  die "npm ci and npm pack disagree about dist/chart.umd.min.js"

mkdir -p "$tmp/out"
cp "$nm/$pkg/dist/chart.umd.min.js" "$tmp/out/chart.umd.min.js"
cp "$nm/$pkg/LICENSE.md" "$tmp/out/LICENSE-chart.js.md"
# the UMD build bundles @kurkle/color (MIT): its licence travels with it
cp "$nm/@kurkle/color/LICENSE.md" "$tmp/out/LICENSE-kurkle-color.md"
{
  echo "# $pkg $version $integrity"
  (cd "$tmp/out" && sha256sum "${files[@]}")
} >"$tmp/out/SHA256SUMS"

if [ "$mode" = --verify ]; then
  for f in "${files[@]}" SHA256SUMS; do
    cmp -s "$tmp/out/$f" "$vendor/$f" || die "web/vendor/$f differs from $pkg $version as published"
  done
  echo "update-vendor: web/vendor/ equals $pkg $version as published"
  exit 0
fi
mkdir -p "$vendor"
for f in "${files[@]}" SHA256SUMS; do cp "$tmp/out/$f" "$vendor/$f"; done
check_offline
