#!/usr/bin/env bash
# What device-pixel capture costs in the browser: Chromium screencasting a busy page (the
# stripe clock of tests/pages/stripes.html, every frame changes over the whole picture)
# for a 1920x1080 video, i.e. a 1280x720 page at device scale 1.5, two ways in alternating
# rounds on the same machine:
#   css     the device-metrics override only (how demoreel captured before): 1280x720 frames
#   device  Chromium started with --force-device-scale-factor=1.5 (how it captures now):
#           1920x1080 frames
# Prints per round and as medians: frames delivered per second, Chromium's CPU seconds per
# second of capture (all its processes), and JPEG bytes per frame. demoreel itself is not
# in the loop; `benches/capture-sample-app.sh` measures a whole recording.
#
#   bash benches/capture-pixels.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
rounds="${2:-3}"
python3 -c 'import websocket' 2>/dev/null || pip install --quiet websocket-client
python3 - "$PWD/tests/pages/stripes.html" "$seconds" "$rounds" <<'PY'
import base64, json, os, shutil, signal, statistics, struct, subprocess, sys, tempfile, time, urllib.request
import websocket

page, seconds, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
# demoreel's flags (src/capture/browser.rs), as root without the sandbox.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-background-timer-throttling",
         "--disable-backgrounding-occluded-windows", "--disable-renderer-backgrounding", "--disable-breakpad",
         "--disable-default-apps", "--disable-dev-shm-usage", "--disable-sync", "--disable-hang-monitor",
         "--disable-ipc-flooding-protection", "--force-color-profile=srgb", "--no-first-run", "--enable-automation",
         "--enable-features=NetworkService,NetworkServiceInProcess", "--metrics-recording-only", "--lang=en_US"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

def jpeg_size(data):
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    return None

def chromium_cpu_seconds(profile):
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if profile.encode() not in open(f"/proc/{pid}/cmdline", "rb").read():
                continue
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / CLK_TCK

def one_round(mode, port):
    profile = tempfile.mkdtemp(prefix="capture-pixels-")
    flags = FLAGS + [f"--user-data-dir={profile}", f"--remote-debugging-port={port}"]
    if mode == "device":
        flags.append("--force-device-scale-factor=1.5")
    browser = subprocess.Popen(["chromium", *flags, "about:blank"], stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(100):
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
                break
            except OSError:
                time.sleep(0.1)
        tab = next(t for t in tabs if t["type"] == "page")
        ws = websocket.create_connection(tab["webSocketDebuggerUrl"], max_size=None)
        counter = [0]
        def call(method, **params):
            counter[0] += 1
            ws.send(json.dumps({"id": counter[0], "method": method, "params": params}))
            while True:
                message = json.loads(ws.recv())
                if message.get("id") == counter[0]:
                    return message
        call("Emulation.setDeviceMetricsOverride", width=1280, height=720, deviceScaleFactor=1.5, mobile=False)
        call("Page.enable")
        call("Page.navigate", url=f"file://{page}")
        time.sleep(1.0)
        call("Page.startScreencast", format="jpeg", quality=85, maxWidth=1920, maxHeight=1080)
        cpu_start, start = chromium_cpu_seconds(profile), time.monotonic()
        frames, jpeg_bytes, sizes = 0, 0, {}
        ws.settimeout(1.0)
        while time.monotonic() - start < seconds:
            try:
                message = json.loads(ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if message.get("method") != "Page.screencastFrame":
                continue
            params = message["params"]
            counter[0] += 1
            ws.send(json.dumps({"id": counter[0], "method": "Page.screencastFrameAck", "params": {"sessionId": params["sessionId"]}}))
            data = base64.b64decode(params["data"])
            frames, jpeg_bytes = frames + 1, jpeg_bytes + len(data)
            size = jpeg_size(data)
            sizes[size] = sizes.get(size, 0) + 1
        elapsed = time.monotonic() - start
        cpu = chromium_cpu_seconds(profile) - cpu_start
        ws.close()
        return {"fps": frames / elapsed, "cpu": cpu / elapsed, "kib": jpeg_bytes / max(frames, 1) / 1024,
                "size": "x".join(map(str, max(sizes, key=sizes.get))) if sizes else "-"}
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)

results = {"css": [], "device": []}
for r in range(rounds):
    for mode in ("css", "device"):
        result = one_round(mode, 9400 + r * 2 + (mode == "device"))
        results[mode].append(result)
        print(f"round {r} {mode:6} frames {result['size']:9} {result['fps']:5.1f} frames/s  "
              f"Chromium {result['cpu']:.2f} CPU-s per s  {result['kib']:6.1f} KiB per frame", flush=True)
print(f"medians over {rounds} rounds of {seconds:g} s:")
for mode, rows in results.items():
    fps = statistics.median(r["fps"] for r in rows)
    cpu = statistics.median(r["cpu"] for r in rows)
    kib = statistics.median(r["kib"] for r in rows)
    print(f"  {mode:6} {rows[0]['size']:9} {fps:5.1f} frames/s  Chromium {cpu:.2f} CPU-s per s  "
          f"{cpu / fps * 1000:5.1f} CPU-ms per frame  {kib:6.1f} KiB per frame")
PY
