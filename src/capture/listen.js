// A person's input, reported to demoreel. Runs at document start in demoreel's isolated
// world of every frame (the page cannot see or remove these listeners), and calls the
// __demoreelInput binding with {t, type, ...}: t is the event's wall time in ms since the
// epoch, positions are CSS px of the top page. Keys typed into password and one-time-code
// fields are sent masked.
(() => {
  if (globalThis.__demoreelListening) return;
  globalThis.__demoreelListening = true;
  const binding = globalThis.__demoreelInput;
  if (typeof binding !== 'function') return;
  const send = (event, report) => {
    report.t = performance.timeOrigin + event.timeStamp;
    try { binding(JSON.stringify(report)); } catch (_) { /* the page is going away */ }
  };

  // Where this frame sits in the top page (same-origin parents only; a cross-origin
  // frame reports in its own coordinates).
  const offset = () => {
    let x = 0, y = 0, w = window;
    try {
      while (w !== w.top && w.frameElement) {
        const r = w.frameElement.getBoundingClientRect();
        x += r.left + w.frameElement.clientLeft;
        y += r.top + w.frameElement.clientTop;
        w = w.parent;
      }
    } catch (_) { /* cross-origin parent */ }
    return [x, y];
  };
  const at = (e) => { const [ox, oy] = offset(); return { x: e.clientX + ox, y: e.clientY + oy }; };
  const BUTTONS = ['left', 'middle', 'right'];
  const button = (e) => BUTTONS[e.button] || 'left';

  const shapeOf = (el) => {
    if (!(el instanceof Element)) return 'default';
    const cursor = getComputedStyle(el).cursor;
    if (cursor === 'pointer' || cursor === 'text') return cursor;
    if (cursor !== 'auto') return 'default';
    if (el.isContentEditable || el.matches('input:not([type=button]):not([type=submit]):not([type=checkbox]):not([type=radio]), textarea')) return 'text';
    return el.closest('a[href]') ? 'pointer' : 'default';
  };
  let shape = 'default';
  // Moves are many: at most one report per animation frame, the newest.
  let lastMoveSent = -Infinity;
  addEventListener('pointermove', (e) => {
    if (e.timeStamp - lastMoveSent >= 16) {
      lastMoveSent = e.timeStamp;
      send(e, { type: 'pointer_move', ...at(e) });
    }
    const now = shapeOf(e.target);
    if (now !== shape) { shape = now; send(e, { type: 'cursor_shape', shape }); }
  }, { capture: true, passive: true });
  addEventListener('pointerdown', (e) => send(e, { type: 'pointer_down', ...at(e), button: button(e) }), { capture: true, passive: true });
  addEventListener('pointerup', (e) => send(e, { type: 'pointer_up', ...at(e), button: button(e) }), { capture: true, passive: true });
  addEventListener('click', (e) => send(e, { type: 'click', ...at(e), button: button(e) }), { capture: true, passive: true });
  addEventListener('wheel', (e) => send(e, { type: 'scroll', ...at(e), dx: e.deltaX, dy: e.deltaY }), { capture: true, passive: true });

  const secretField = (el) => el instanceof HTMLInputElement &&
    (el.type === 'password' || /one-time-code/.test(el.autocomplete || '') || /\b(otp|code|verification)\b/i.test(el.name + ' ' + el.id));
  addEventListener('keydown', (e) => {
    if (['Shift', 'Control', 'Alt', 'Meta'].includes(e.key)) return;
    const modifiers = [];
    if (e.ctrlKey) modifiers.push('ctrl');
    if (e.altKey) modifiers.push('alt');
    if (e.shiftKey) modifiers.push('shift');
    if (e.metaKey) modifiers.push('meta');
    const types = e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey;
    // What is typed into a secret field is secret; a shortcut pressed there is not.
    if (types && secretField(e.composedPath()[0] || e.target)) {
      send(e, { type: 'key', key: '•', code: '', modifiers: [] });
      return;
    }
    send(e, { type: 'key', key: e.key, code: e.code, modifiers, ...(types ? { text: e.key } : {}) });
  }, { capture: true, passive: true });
})();
