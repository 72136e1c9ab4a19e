#!/bin/sh
# Vendors the ALTCHA widget (the public form's CAPTCHA) from the npm registry into
# server_sync_api/public/static/altcha/: the CSP-friendly "external" build (no inline styles,
# no blob workers), its stylesheet, the PBKDF2 worker and the Spanish strings. The tarball is
# checked against the registry's published integrity before anything is copied.
# Usage: tools/vendor-altcha.sh [VERSION]   (it writes the VERSION file; then run the tests)
set -eu
version="${1:-3.2.2}"
dest="$(cd "$(dirname "$0")/.." && pwd)/server_sync_api/public/static/altcha"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "altcha@$version" >/dev/null
expected="$(npm view "altcha@$version" dist.integrity)"
actual="sha512-$(openssl dgst -sha512 -binary "altcha-$version.tgz" | base64 -w0)"
[ "$expected" = "$actual" ] || { echo "integrity mismatch for altcha@$version" >&2; exit 1; }
tar xzf "altcha-$version.tgz"
mkdir -p "$dest"
cp package/dist/external/altcha.min.js package/dist/external/altcha.css \
   package/dist/workers/pbkdf2.js package/dist/i18n/es-419.js package/LICENSE.txt "$dest/"
echo "$version" > "$dest/VERSION"
echo "altcha $version vendored into $dest"
