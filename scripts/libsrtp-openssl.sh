#!/usr/bin/env bash
# Builds Debian's own libsrtp2 source package against OpenSSL (Debian's
# binary package uses NSS, ~4x slower for AES-CM/HMAC-SHA1) and installs it
# into a private prefix that CMake's SP_SRTP_OPENSSL=ON links with an rpath.
# Never installs over the system library.
#
#   scripts/libsrtp-openssl.sh [--prefix DIR] [--force]
#
# Prefix: --prefix, else $SP_SRTP_OPENSSL_PREFIX, else
# <repo>/build/libsrtp-openssl/prefix. Idempotent: when the prefix already
# holds a build of the same source version with the same recipe, it does
# nothing. The source comes only from the Debian archive the machine's apt
# already uses: with no deb-src entries, it writes
# /etc/apt/sources.list.d/streampoint-src.{sources,list} mirroring the
# Debian deb entries (system files are never edited).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${SP_SRTP_OPENSSL_PREFIX:-$REPO/build/libsrtp-openssl/prefix}
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "libsrtp-openssl: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
case "$PREFIX" in
  /usr|/usr/local|/) echo "libsrtp-openssl: refusing system prefix $PREFIX" >&2; exit 2 ;;
esac
STAMP=$PREFIX/.streampoint-libsrtp-openssl
# Bump when the configure/build steps below change, so old prefixes rebuild.
RECIPE=1
SRC_LIST_BASE=/etc/apt/sources.list.d/streampoint-src

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "libsrtp-openssl [$(elapsed)s]: $*"; }

# --- deb-src ---------------------------------------------------------------
have_deb_src() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && grep -Eq '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -Eiq '^Types:.*deb-src' "$f" && return 0
  done
  return 1
}

# deb822 stanzas with Types: deb on a Debian archive URI, re-emitted as
# deb-src (comments and Architectures dropped; continuation lines such as
# an inline Signed-By key are kept).
deb822_to_src() {
  awk '
    function flush() {
      if (n && isdeb && isdebian && !disabled) {
        if (out++) print ""
        print "Types: deb-src"
        for (i = 1; i <= n; i++) print lines[i]
      }
      n = 0; isdeb = 0; isdebian = 0; disabled = 0; skip = 0
    }
    /^[[:space:]]*#/ { next }
    /^[[:space:]]*$/ { flush(); next }
    /^[^[:space:]]/ {
      skip = 0
      if (tolower($1) == "types:") { for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1; skip = 1; next }
      if (tolower($1) == "architectures:") { skip = 1; next }
      if (tolower($1) == "enabled:" && tolower($2) == "no") disabled = 1
      if (tolower($1) == "uris:" && $0 ~ /\/debian(-security)?\/?([[:space:]]|$)/) isdebian = 1
    }
    { if (!skip) lines[++n] = $0 }
    END { flush() }
  ' "$@"
}

# One-line "deb [opts] uri suite comp..." entries on a Debian archive URI.
list_to_src() {
  grep -Eh '^[[:space:]]*deb[[:space:]]' "$@" 2>/dev/null \
    | grep -E '/debian(-security)?/?[[:space:]]' \
    | sed -E 's/^[[:space:]]*deb[[:space:]]+/deb-src /' || true
}

ensure_deb_src() {
  local lists=() sources=() body added=0
  have_deb_src && return 0
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && [ "$f" != "$SRC_LIST_BASE.list" ] && lists+=("$f")
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$SRC_LIST_BASE.sources" ] && sources+=("$f")
  done
  if [ ${#sources[@]} -gt 0 ]; then
    body=$(deb822_to_src "${sources[@]}")
    if [ -n "$body" ]; then
      printf '# Written by streampoint scripts/libsrtp-openssl.sh: source packages\n# from the same Debian archive as the deb entries.\n%s\n' "$body" \
        | $SUDO tee "$SRC_LIST_BASE.sources" >/dev/null
      say "wrote $SRC_LIST_BASE.sources"
      added=1
    fi
  fi
  if [ ${#lists[@]} -gt 0 ]; then
    body=$(list_to_src "${lists[@]}")
    if [ -n "$body" ]; then
      printf '# Written by streampoint scripts/libsrtp-openssl.sh\n%s\n' "$body" \
        | $SUDO tee "$SRC_LIST_BASE.list" >/dev/null
      say "wrote $SRC_LIST_BASE.list"
      added=1
    fi
  fi
  if [ $added -eq 0 ]; then
    echo "libsrtp-openssl: no Debian deb entries found to mirror as deb-src" >&2
    exit 1
  fi
}

# Refresh only our deb-src file (the deb indexes are left alone, and
# List-Cleanup=0 keeps apt from deleting them as "stale").
update_src_index() {
  local f
  if [ -f "$SRC_LIST_BASE.sources" ] || [ -f "$SRC_LIST_BASE.list" ]; then
    for f in "$SRC_LIST_BASE.sources" "$SRC_LIST_BASE.list"; do
      [ -f "$f" ] || continue
      say "apt-get update ($f only)"
      $SUDO apt-get update -q -o Dir::Etc::sourcelist="$f" \
        -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null
    done
  else
    say "apt-get update"
    $SUDO apt-get update -q >/dev/null
  fi
}

src_version() {
  apt-cache showsrc --only-source libsrtp2 2>/dev/null \
    | awk '/^Version:/ { print $2 }' | sort -V | tail -1 || true
}

# One run at a time per prefix; a second one then finds it up to date.
exec 9>"$PREFIX/.lock"
flock 9

ensure_deb_src
VERSION=$(src_version)
if [ -z "$VERSION" ]; then
  update_src_index
  VERSION=$(src_version)
fi
if [ -z "$VERSION" ]; then
  echo "libsrtp-openssl: the Debian archive offers no libsrtp2 source package" >&2
  exit 1
fi
WANT="source=libsrtp2 version=$VERSION crypto=openssl recipe=$RECIPE"

if [ $FORCE -eq 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && [ -e "$PREFIX/lib/libsrtp2.so" ] && [ -f "$PREFIX/lib/pkgconfig/libsrtp2.pc" ]; then
  say "up to date ($WANT)"
  echo "libsrtp-openssl: OpenSSL libsrtp2 $VERSION in $PREFIX (cmake -DSP_SRTP_OPENSSL=ON -DSP_SRTP_OPENSSL_PREFIX=$PREFIX)"
  exit 0
fi

# --- build dependencies ------------------------------------------------------
# By name: what the upstream Makefile needs for the library with OpenSSL.
# (`apt-get build-dep` would pull debhelper, NSS and doxygen for the docs.)
DEPS=(build-essential pkg-config libssl-dev dpkg-dev)
missing=()
for p in "${DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- source --------------------------------------------------------------------
UPSTREAM=${VERSION#*:}; UPSTREAM=${UPSTREAM%-*}
# Scratch per run under build/ (removed on success; kept with its logs on
# failure).
mkdir -p "$REPO/build/libsrtp-openssl"
SCRATCH=$(mktemp -d "$REPO/build/libsrtp-openssl/src.XXXXXX")
on_exit() {
  local rc=$?
  [ $rc -eq 0 ] || echo "libsrtp-openssl: FAILED (exit $rc); logs in $SCRATCH" >&2
}
trap on_exit EXIT
say "apt-get source libsrtp2=$VERSION"
(cd "$SCRATCH" && apt-get source -q "libsrtp2=$VERSION" >apt-source.log 2>&1) \
  || { cat "$SCRATCH/apt-source.log" >&2; exit 1; }
SRC=$(find "$SCRATCH" -mindepth 1 -maxdepth 1 -type d -name "libsrtp2-$UPSTREAM*" | head -1)
if [ -z "$SRC" ] || [ ! -x "$SRC/configure" ]; then
  echo "libsrtp-openssl: no unpacked source with a configure script in $SCRATCH" >&2; exit 1
fi

# --- build -------------------------------------------------------------------
# Debian's patches are applied by apt-get source, and the flags are
# debian/rules' own (dpkg-buildflags with its -O4 -funroll-loops tweaks), so
# the crypto engine is the only difference from the packaged library:
# --enable-openssl where debian/rules passes --enable-nss. Only the library
# is built (debian/rules also builds the test programs).
JOBS=$(nproc 2>/dev/null || echo 2)
say "configure --enable-openssl, make -j$JOBS shared_library"
(
  cd "$SRC"
  eval "$(DEB_CFLAGS_MAINT_STRIP=-O2 \
          DEB_CFLAGS_MAINT_APPEND='-D_REENTRANT -O4 -fexpensive-optimizations -funroll-loops' \
          dpkg-buildflags --export=sh)"
  ./configure -q --prefix="$PREFIX" --libdir="$PREFIX/lib" --enable-openssl --disable-pcap \
    >"$SCRATCH/configure.log" 2>&1 \
    || { tail -30 "$SCRATCH/configure.log" >&2; exit 1; }
  grep -q '^#define OPENSSL 1' crypto/include/config.h \
    || { echo "libsrtp-openssl: configure did not select OpenSSL" >&2; exit 1; }
  make -j"$JOBS" shared_library >"$SCRATCH/make.log" 2>&1 \
    || { tail -30 "$SCRATCH/make.log" >&2; exit 1; }
  # Only what an earlier run installed: the prefix may hold other things.
  rm -rf "${PREFIX:?}"/lib/libsrtp2.* "$PREFIX/lib/pkgconfig/libsrtp2.pc" \
    "$PREFIX/include/srtp2" "$STAMP"
  make install >"$SCRATCH/install.log" 2>&1 \
    || { tail -30 "$SCRATCH/install.log" >&2; exit 1; }
)
# The installed library must use libcrypto, not NSS.
deps=$(ldd "$PREFIX/lib/libsrtp2.so")
if grep -q libnss3 <<<"$deps" || ! grep -q libcrypto <<<"$deps"; then
  echo "libsrtp-openssl: $PREFIX/lib/libsrtp2.so does not link OpenSSL only:" >&2
  echo "$deps" >&2
  exit 1
fi
echo "$WANT" >"$STAMP"
trap - EXIT
rm -rf "$SCRATCH"
say "built and installed"
echo "libsrtp-openssl: OpenSSL libsrtp2 $VERSION in $PREFIX (cmake -DSP_SRTP_OPENSSL=ON -DSP_SRTP_OPENSSL_PREFIX=$PREFIX)"
