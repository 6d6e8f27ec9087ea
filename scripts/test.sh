#!/usr/bin/env bash
# Every test: installs what is needed, builds with gcc (-Werror), clang
# (-Werror) and clang ASan+UBSan, runs the Criterion unit and integration
# tests in the gcc and sanitizer builds, the fuzz targets (corpus replay +
# bounded fuzzing), the dts end-to-end suites against the sanitizer build, and
# the benchmarks' quick preset. .ci/run runs exactly this.
set -uo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0 failures=()
step() {
  local name=$1; shift
  echo
  echo "=================== $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($((SECONDS - t0)) s)"
  fi
}
build() { cmake --preset "$1" >/dev/null && cmake --build --preset "$1"; }

bash scripts/setup.sh || { echo "setup failed"; exit 1; }
# libsrtp2 rebuilt on OpenSSL from Debian's source package (SP_SRTP_OPENSSL)
bash scripts/libsrtp-openssl.sh || { echo "libsrtp-openssl failed"; exit 1; }
step "build gcc debug" build debug
step "build clang debug" build clang
step "build asan" build asan
step "build release" build release
step "build release-ossl" build release-ossl
step "srtp tests (OpenSSL libsrtp)" bash -c 'cmake -S . -B build/debug-ossl -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSP_SRTP_OPENSSL=ON -DSP_TESTS=ON >/dev/null && cmake --build build/debug-ossl && ctest --test-dir build/debug-ossl -R "srtp|sdes" --output-on-failure'
step "unit+integration (gcc)" ctest --preset debug
step "unit+integration (asan)" ctest --preset asan
step "fuzz" bash scripts/fuzz.sh "${SP_FUZZ_SECONDS:-15}"
step "dts (asan build)" env SP_BUILD_DIR="$PWD/build/asan" SP_DTS_STRICT=1 /usr/bin/python3 -m pytest -q dts
step "benchmarks (quick)" /usr/bin/python3 benchmarks/run.py --preset quick --build-dir build/release

echo
[ $failed -eq 0 ] || echo "failed steps: ${failures[*]}"
echo "steps: $passed passed, $failed failed"
[ $failed -eq 0 ]
