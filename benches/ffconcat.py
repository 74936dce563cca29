#!/usr/bin/env python3
"""Writes an ffconcat list of a recording's frames for ffmpeg, with each frame lasting
until the next one and the awaiting-input windows cut out, as demo.mp4 does (the
cross-fade at the join aside). Usage: ffconcat.py RECORDING > list.ffconcat"""
import json, os, sys

bundle = sys.argv[1]
meta = json.load(open(os.path.join(bundle, "meta.json")))
frames, latest = [], 0.0
for line in open(os.path.join(bundle, "frames.jsonl")):
    entry = json.loads(line)
    latest = max(latest, entry["t_ms"])  # timestamps step back sometimes: clamp
    frames.append((latest, os.path.abspath(os.path.join(bundle, entry["file"]))))

windows, start = [], None
for line in open(os.path.join(bundle, "timeline.jsonl")):
    event = json.loads(line)
    if event["type"] == "awaiting_input_start" and start is None:
        start = event["t_ms"]
    elif event["type"] == "awaiting_input_end" and start is not None:
        windows.append((start, event["t_ms"]))
        start = None
if start is not None:
    windows.append((start, meta["duration_ms"]))

def to_output(t):
    removed = 0.0
    for a, b in windows:
        if t >= b:
            removed += b - a
        elif t > a:
            return a - removed
    return t - removed

print("ffconcat version 1.0")
times = [to_output(t) for t, _ in frames] + [to_output(meta["duration_ms"])]
for i, (_, path) in enumerate(frames):
    duration = times[i + 1] - times[i]
    if duration <= 0:
        continue  # superseded before it was ever shown, or inside a cut
    print(f"file '{path}'\nduration {duration / 1000:.6f}")
print(f"file '{frames[-1][1]}'")
