// When did the page show its reaction to the click just dispatched? Answers
// [raf, presented] as wall-clock ms since the epoch: `presented` from the Event Timing
// API (the presentation time of the first frame after the click was handled, as
// Chromium's compositor reported it; only for reactions slower than 16 ms), `raf` the
// page's next animation frame (for quick reactions). Either may be null.
((since) => new Promise((resolve) => {
  let raf = null;
  requestAnimationFrame(() => { raf = performance.timeOrigin + performance.now(); });
  const presentedOf = (entries) => {
    let best = null;
    for (const e of entries) {
      if (!['click', 'pointerup', 'mouseup'].includes(e.name)) continue;
      const start = performance.timeOrigin + e.startTime;
      if (start + 1 < since) continue;
      const shown = start + e.duration;
      if (best === null || shown < best) best = shown;
    }
    return best;
  };
  let observer = null;
  let done = false;
  const finish = (presented) => {
    if (done) return;
    done = true;
    if (observer) observer.disconnect();
    resolve([raf, presented]);
  };
  try {
    observer = new PerformanceObserver((list) => {
      const shown = presentedOf(list.getEntries());
      if (shown !== null) finish(shown);
    });
    observer.observe({ type: 'event', buffered: true, durationThreshold: 16 });
  } catch (_) { /* no Event Timing: the animation frame will do */ }
  setTimeout(() => finish(null), 240);
}))
