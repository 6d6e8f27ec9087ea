#!/usr/bin/env bash
# Installs every Debian package streampoint needs to build, test, benchmark
# and run its demo. Idempotent: packages already present are not touched and
# `apt-get update` runs only when something is missing.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential gcc clang lld llvm libclang-rt-14-dev cmake ninja-build pkg-config git
  # libraries
  liburing-dev libssl-dev libsrtp2-dev libcriterion-dev libmosquitto-dev libinih-dev
  libcjson-dev dpdk dpdk-dev libdpdk-dev libpcap-dev
  # peers and tools used by tests, dts and benchmarks
  mosquitto mosquitto-clients openssl coturn iproute2 nftables procps psmisc util-linux
  python3 python3-pytest python3-yaml python3-pyroute2 python3-scapy python3-pylibsrtp
  python3-paho-mqtt
  gnuplot-nox socat stunnel4 openssh-server openssh-client
  # deploy/k8s lint (ctest k8s_manifests); systemd-analyze checks deploy/systemd
  yamllint systemd
  # RTSP: the camera stand-in (tests/camera, gst-rtsp-server) and real viewers
  # (ffmpeg/ffprobe, gst-launch-1.0 rtspsrc); x264enc is in -ugly, h264parse in -bad
  libgstrtspserver-1.0-dev gstreamer1.0-tools gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad
  gstreamer1.0-libav ffmpeg
)

# The GStreamer elements tests/camera and tests/integration/camera.py use:
# with --no-install-recommends a missing plugin would only show as a test
# failure, so name it here.
GST_ELEMENTS=(videotestsrc x264enc h264parse rtph264pay rtph264depay rtspsrc avdec_h264
  parsebin qtdemux matroskademux appsrc appsink audiotestsrc alawenc rtppcmapay avenc_aac
  rtpmp4gpay audioconvert fakesink)
check_gst() {
  local gone=()
  for e in "${GST_ELEMENTS[@]}"; do
    gst-inspect-1.0 --exists "$e" 2>/dev/null || gone+=("$e")
  done
  if [ ${#gone[@]} -ne 0 ]; then
    echo "setup: GStreamer elements missing after install: ${gone[*]}" >&2
    exit 1
  fi
}

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  check_gst
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# coturn and mosquitto ship services; tests start their own instances, so
# keep the packaged ones from starting (policy-rc.d is the Debian way).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
check_gst
echo "setup: done"
