# Shell functions the example scripts share (main.sh, cluster.sh). Sourced, not run.

# The main job's goal and options: sign-in (a saved login, a one-time code), a new
# project, ⌘K, the analytics dashboard; 1920×1080 on a gradient, key chips, e-mails
# blurred, the GIF on.
main_goal="Sign in, create a new project, press ⌘K to open the command palette and open the analytics dashboard"
main_options='{
  "auth": {"source": "default"},
  "video": {
    "size": {"width": 1920, "height": 1080},
    "background": {"type": "gradient", "from": "#6366f1", "to": "#ec4899", "direction": "diagonal"},
    "shortcuts": true,
    "blur_emails": true
  },
  "artifacts": {"gif": true}
}'

# Waits for a server's "listening"/"serving" line in log file $1 and prints its URL.
url_of() {
  local url
  for _ in $(seq 100); do
    url="$(grep -o 'http://[0-9.:]*' "$1" | head -1 || true)"
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.1
  done
  echo "no server started; its log:" >&2; cat "$1" >&2; exit 1
}

# Waits for run $1 to end, answering its one-time codes from Orbit's outbox at $2 (read
# where a person would read them); fails with the run's status unless it succeeded.
# Uses DEMOREEL_SERVER and DEMOREEL_API_KEY, and the binary in $demoreel.
wait_answering_codes() {
  local run="$1" app="$2" code otp
  while true; do
    set +e
    "$demoreel" runs wait "$run" --timeout 900 --output text >/dev/null
    code=$?
    set -e
    case $code in
      0) return 0 ;;
      10)
        otp="$(curl -fsS "${app}/api/outbox" | jq -r '.[0].code')"
        echo "   the run asks for a one-time code; answering from Orbit's outbox"
        printf '%s\n' "$otp" | "$demoreel" runs input "$run" --value-stdin --output text >/dev/null ;;
      *) echo "the run ended without success:" >&2
         "$demoreel" runs status "$run" --output text >&2
         return 1 ;;
    esac
  done
}

# Prints "WIDTHxHEIGHT" of the video in MP4 file $1 (from its caps, through GStreamer).
video_size() {
  gst-launch-1.0 -v filesrc location="$1" ! qtdemux ! fakesink 2>/dev/null |
    grep -o 'width=(int)[0-9]*, height=(int)[0-9]*' | head -1 |
    sed 's/width=(int)\([0-9]*\), height=(int)\([0-9]*\)/\1x\2/'
}

# Prints the seconds of CPU this whole machine has spent so far (all cores, busy time
# only: user, nice, system, interrupts, steal), from /proc/stat.
machine_cpu_seconds() {
  awk '/^cpu / { printf "%.1f\n", ($2 + $3 + $4 + $7 + $8 + $9) / 100 }' /proc/stat
}

# Prints the duration in seconds of the MP4 file $1, from its movie header (mvhd).
video_seconds() {
  python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
at = data.index(b"mvhd") + 4
version = data[at]
if version == 1:
    timescale, duration = struct.unpack(">IQ", data[at + 20:at + 32])
else:
    timescale, duration = struct.unpack(">II", data[at + 12:at + 20])
print(f"{duration / timescale:.2f}")
PY
}
