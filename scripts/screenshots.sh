#!/usr/bin/env bash
# Takes the README's screenshots of the web client: PNGs of the main pages of a running
# `kontor up` (Home, Customer List, Customer Card, CRM Full Synch. Review after the first full
# synchronization, Integration Table Mappings, Sales Order) into docs/screenshots/.
#
#   scripts/screenshots.sh            (or: cargo xtask screenshots)
#
# Starts `kontor up` on free ports with a throwaway data folder, waits until it has run the
# full synchronization, signs in as ADMIN (the password from the data folder's
# credentials.json) and drives Debian's headless chromium through chromedriver's WebDriver HTTP
# API with curl: the session cookie is handed to the browser, then each page is opened and its
# screenshot saved. Needs chromium, chromium-driver, curl and jq. KONTOR_BIN names the kontor
# binary to run (default: `cargo build --release -p kontor`, then its target/release/kontor).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
out="$root/docs/screenshots"
mkdir -p "$out"

for tool in chromium chromedriver curl jq; do
  command -v "$tool" >/dev/null || { echo "screenshots: $tool is missing" >&2; exit 1; }
done

if [ -z "${KONTOR_BIN:-}" ]; then
  cargo build --release -p kontor
  KONTOR_BIN="${CARGO_TARGET_DIR:-$root/target}/release/kontor"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || shuf -i 20000-60000 -n 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fin_port="$(free_port)"; sales_port="$(free_port)"; driver_port="$(free_port)"
base="http://127.0.0.1:$fin_port"
env -u KONTOR_ADMIN_PASSWORD "$KONTOR_BIN" up --data "$work/data" \
  --financials-port "$fin_port" --sales-port "$sales_port" >"$work/up.out" 2>"$work/up.err" &
pids+=($!)
# `kontor up` prints "Kontor is up." once the first full synchronization has ended.
for _ in $(seq 1 600); do
  grep -q "Kontor is up" "$work/up.out" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/up.err" >&2; exit 1; }
  sleep 0.5
done
grep -q "Kontor is up" "$work/up.out" || { echo "screenshots: kontor up did not come up" >&2; exit 1; }
password="$(jq -r .financials_admin_password "$work/data/credentials.json")"

# Sign in through the form, as a browser would: the CSRF token of the sign-in page, then POST.
jar="$work/cookies"
csrf="$(curl -fsS -c "$jar" "$base/signin" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n1)"
curl -fsS -b "$jar" -c "$jar" -o /dev/null -H "Origin: $base" \
  --data-urlencode "csrf=$csrf" --data-urlencode "user_name=ADMIN" \
  --data-urlencode "password=$password" "$base/signin"
session="$(awk '$6 == "kontor_session" { print $7 }' "$jar")"
[ -n "$session" ] || { echo "screenshots: the sign-in was refused" >&2; exit 1; }

# The ids of one customer and one sales order, from their lists.
page() { curl -fsS -b "kontor_session=$session" -H "Accept: text/html" "$base$1"; }
uuid='[0-9a-f]\{8\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{12\}'
customer="$(page /customers | grep -o "href=\"/customers/$uuid\"" | head -n1 | cut -d/ -f3 | tr -d '"')"
order="$(page /sales-orders | grep -o "href=\"/sales-orders/$uuid\"" | head -n1 | cut -d/ -f3 | tr -d '"')"

chromedriver --port="$driver_port" >"$work/driver.log" 2>&1 &
pids+=($!)
wd="http://127.0.0.1:$driver_port"
for _ in $(seq 1 100); do curl -fsS "$wd/status" >/dev/null 2>&1 && break; sleep 0.1; done
caps="$(jq -n --arg profile "$work/profile" '{capabilities: {alwaysMatch: {browserName: "chrome",
  "goog:chromeOptions": {binary: "/usr/bin/chromium", args: ["--headless", "--no-sandbox",
  "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--window-size=1280,900", ("--user-data-dir=" + $profile)]}}}}')"
sid="$(curl -fsS -H 'Content-Type: application/json' -d "$caps" "$wd/session" | jq -r .value.sessionId)"
wdpost() { curl -fsS -H 'Content-Type: application/json' -d "$2" "$wd/session/$sid/$1" >/dev/null; }
wdpost url "{\"url\": \"$base/signin\"}"
wdpost cookie "$(jq -n --arg v "$session" '{cookie: {name: "kontor_session", value: $v, path: "/", httpOnly: true}}')"

shot() {
  local name="$1" path="$2"
  wdpost url "{\"url\": \"$base$path\"}"
  sleep 1
  local title
  title="$(curl -fsS "$wd/session/$sid/title" | jq -r .value)"
  case "$title" in *"Sign In"*|*"Error"*|*"Not Found"*)
    echo "screenshots: $path shows \"$title\"" >&2; exit 1;; esac
  curl -fsS "$wd/session/$sid/screenshot" | jq -r .value | base64 -d >"$out/$name.png"
  echo "docs/screenshots/$name.png  $path  ($title)"
}
shot home /
shot customer-list /customers
shot customer-card "/customers/$customer"
shot crm-full-synch-review /crm-full-synch-review
shot integration-table-mappings /integration-table-mappings
shot sales-order "/sales-orders/$order"
curl -fsS -X DELETE "$wd/session/$sid" >/dev/null
