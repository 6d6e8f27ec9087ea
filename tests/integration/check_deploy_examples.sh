#!/usr/bin/env bash
# The documented example configs under deploy/ must be exactly what the
# binaries print with --print-config, and must load cleanly; so docs and code
# cannot drift apart. Usage: check_deploy_examples.sh <repo> <build-dir>
set -euo pipefail
repo=$1 build=$2
fail=0
for pair in spdp:dataplane/spdp spcp:controlplane/spcp spagent:agent/spagent; do
  name=${pair%%:*} bin=$build/${pair#*:}
  if ! diff -u "$repo/deploy/$name.ini" <("$bin" --print-config); then
    echo "deploy/$name.ini differs from '$name --print-config' (regenerate it)"; fail=1
  fi
  "$bin" -c "$repo/deploy/$name.ini" --show-config >/dev/null || { echo "$name rejects its own example"; fail=1; }
done
exit $fail
