#!/usr/bin/env bash
# The local demo: installs what is needed, builds (Release), starts spdp and
# spcp for a throw-away instance, and shows them connected with spctl.
#   scripts/demo.sh           run, show, stop
#   scripts/demo.sh --hold    keep them running until Ctrl-C
set -euo pipefail
cd "$(dirname "$0")/.."
HOLD=0
[ "${1:-}" = "--hold" ] && HOLD=1

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release

B=build/release
RUN=$(mktemp -d /tmp/streampoint-demo.XXXXXX)
INST=demo
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

echo "== starting spdp (data plane) and spcp (control plane); logs in $RUN"
"$B/dataplane/spdp" -o spdp.runtime_dir="$RUN" -o spdp.instance=$INST -o spdp.workers=2 \
  -o media.address=127.0.0.1 -o media.port_min=40000 -o media.port_max=40999 \
  2>"$RUN/spdp.log" &
pids+=($!)
"$B/controlplane/spcp" -o spcp.runtime_dir="$RUN" -o spcp.instance=$INST 2>"$RUN/spcp.log" &
pids+=($!)

SPCTL=("$B/ctl/spctl" -r "$RUN" -i $INST)
for _ in $(seq 1 100); do
  "${SPCTL[@]}" status >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 1.2 # let one heartbeat round trip show up in the counters

echo "== spctl status"
"${SPCTL[@]}" status
rc=$?
echo
echo "== spctl call /   (the control socket speaks DPDK's telemetry framing)"
"${SPCTL[@]}" call /
echo
echo "== synthetic cameras and viewers through spdp (one upstream per camera, fanned out)"
/usr/bin/python3 scripts/demo_traffic.py "$RUN" $INST 4 3 5
echo
echo "== spctl flows    (live counters from the shared segment)"
"${SPCTL[@]}" flows
echo "== spctl flow 1"
"${SPCTL[@]}" flow 1
echo "== spctl status   (worker counters: rx/tx packets, fan-out sends)"
"${SPCTL[@]}" status | sed -n '/^WORKER/,$p'
"${SPCTL[@]}" status >/dev/null
rc=$?
echo
echo "== a camera behind NAT, watched through streampoint (agent tunnel, one RTSP pull, fan-out)"
/usr/bin/python3 scripts/demo_camera.py "$B" || rc=$?
echo "== logs"
sed 's/^/  /' "$RUN/spdp.log" "$RUN/spcp.log"
if [ $HOLD -eq 1 ]; then
  echo "== running; try: ${SPCTL[*]} status   (Ctrl-C stops)"
  wait
fi
exit $rc
