#!/bin/sh
# What tests/test_guide_browser.py needs, for `make test`: headless Chromium, and CJK fonts so the
# screenshot it leaves in test-artifacts/ is readable. Silent when both are there; otherwise it
# installs Debian's `chromium` and `fonts-noto-cjk` with apt-get, as root or through sudo.
# DRY_RUN=1 prints the commands it would run instead of running them.
set -eu

PACKAGES="chromium fonts-noto-cjk"

have_chromium() {
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}
have_cjk_fonts() {
  fc-list 2>/dev/null | grep -qi "Noto Sans CJK"
}
fail() {
  echo "ensure_browser: $*" >&2
  echo "ensure_browser: install headless Chromium (chromium or chromium-browser on PATH) and the" \
    "Noto Sans CJK fonts, then run make test again (make test-fast needs neither)" >&2
  exit 1
}
run() {
  if [ "${DRY_RUN:-0}" = 1 ]; then
    echo "+ $*"
  else
    "$@" >/dev/null
  fi
}

if have_chromium && have_cjk_fonts; then
  exit 0
fi

missing=""
have_chromium || missing="headless Chromium"
have_cjk_fonts || missing="${missing:+$missing and }CJK fonts"
echo "ensure_browser: $missing missing (tests/test_guide_browser.py); installing $PACKAGES" >&2

command -v apt-get >/dev/null 2>&1 || fail "no apt-get on this machine"
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  fail "neither root nor sudo, so apt-get cannot install"
fi

# shellcheck disable=SC2086 # $SUDO is empty or one word; $PACKAGES is a list on purpose
run $SUDO apt-get update -qq
# shellcheck disable=SC2086
run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES

if [ "${DRY_RUN:-0}" != 1 ] && ! { have_chromium && have_cjk_fonts; }; then
  fail "apt-get installed $PACKAGES, and still $missing cannot be found"
fi
