#!/usr/bin/env bash
# Checks that a faultline report.html renders in a real browser (Debian's headless chromium):
# a screenshot is taken and is not empty, and the DOM chromium built holds the three charts
# as parsed <svg> elements and no parser error.
#
#   .ci/check-report.sh [REPORT.html]
#
# Without an argument, a sample report is generated first with the chaos crate's
# `sample_report` example. SCREENSHOT=path keeps the screenshot (otherwise it is removed).
# Needs: chromium (apt-get install chromium). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "check-report: FAIL: $*" >&2
  exit 1
}

command -v chromium >/dev/null || fail "chromium is not installed (apt-get install chromium)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

report=${1:-}
if [ -z "$report" ]; then
  report=$work/report.html
  cargo run --quiet -p chaos --example sample_report -- "$report"
fi
[ -s "$report" ] || fail "$report does not exist or is empty"
report=$(realpath "$report")
screenshot=${SCREENSHOT:-$work/report.png}

# Every flag that would make chromium reach for the network or a desktop session is off.
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync)

timeout 120 chromium "${flags[@]}" --user-data-dir="$work/profile-shot" \
  --screenshot="$screenshot" --window-size=1400,3000 "file://$report" \
  >"$work/shot.log" 2>&1 || { cat "$work/shot.log" >&2; fail "chromium --screenshot failed"; }
[ -s "$screenshot" ] || fail "no screenshot written"
# A blank page compresses to a few kilobytes; the report's charts do not.
shot_bytes=$(stat -c %s "$screenshot")
[ "$shot_bytes" -gt 40000 ] || fail "screenshot is only $shot_bytes bytes: blank page?"

timeout 120 chromium "${flags[@]}" --user-data-dir="$work/profile-dom" \
  --dump-dom "file://$report" >"$work/dom.html" 2>"$work/dom.log" \
  || { cat "$work/dom.log" >&2; fail "chromium --dump-dom failed"; }
svgs=$(grep -o '<svg' "$work/dom.html" | wc -l)
[ "$svgs" -ge 3 ] || fail "the DOM holds $svgs <svg> elements, expected at least 3"
grep -q 'faultline run report' "$work/dom.html" || fail "the DOM lacks the page header"
if grep -q 'parsererror' "$work/dom.html"; then fail "the DOM holds a parser error"; fi

echo "check-report: ok: $report renders ($svgs svg elements, screenshot $shot_bytes bytes)"
