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
  // A click no pointer made (Enter submitting a form clicks its button, at 0, 0) is not
  // a click of the pointer: the cursor must not jump to the corner for it.
  addEventListener('click', (e) => { if (e.detail !== 0) send(e, { type: 'click', ...at(e), button: button(e) }); }, { capture: true, passive: true });
  addEventListener('wheel', (e) => send(e, { type: 'scroll', ...at(e), dx: e.deltaX, dy: e.deltaY }), { capture: true, passive: true });

  const secretField = (el) => el instanceof HTMLInputElement &&
    (el.type === 'password' || /one-time-code/.test(el.autocomplete || '') || /\b(otp|code|verification)\b/i.test(el.name + ' ' + el.id));
  addEventListener('keydown', (e) => {
    if (['Shift', 'Control', 'Alt', 'Meta'].includes(e.key)) return;
    // A key that acts rather than types: what was typed before it is reported first.
    if (['Enter', 'Tab', 'Escape'].includes(e.key) || e.ctrlKey || e.metaKey || e.altKey) flushFills();
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

  // What an element looked like when a person acted on it: the ways a replay can find it.
  const cut = (text) => (text || '').replace(/\s+/g, ' ').trim().slice(0, 120);
  const IMPLIED = { A: 'link', BUTTON: 'button', SELECT: 'combobox', TEXTAREA: 'textbox', SUMMARY: 'button', H1: 'heading', H2: 'heading', H3: 'heading', IMG: 'img' };
  const INPUT_ROLES = { button: 'button', submit: 'button', reset: 'button', checkbox: 'checkbox', radio: 'radio', range: 'slider', search: 'searchbox' };
  const roleOf = (el) => {
    const explicit = el.getAttribute('role');
    if (explicit) return explicit.split(' ')[0];
    if (el.tagName === 'INPUT') return INPUT_ROLES[el.type] || 'textbox';
    if (el.tagName === 'A' && !el.hasAttribute('href')) return '';
    return IMPLIED[el.tagName] || '';
  };
  const labelOf = (el) => {
    if (el.labels && el.labels.length) return cut(el.labels[0].textContent);
    const wrapping = el.closest('label');
    return wrapping ? cut(wrapping.textContent) : '';
  };
  const nameOf = (el) => {
    const aria = el.getAttribute('aria-label');
    if (aria) return cut(aria);
    const by = el.getAttribute('aria-labelledby');
    if (by) return cut(by.split(' ').map((id) => (document.getElementById(id) || {}).textContent || '').join(' '));
    const field = el.matches('input, textarea, select');
    if (field && ['button', 'submit', 'reset'].includes(el.type)) return cut(el.value);
    if (field) return labelOf(el) || cut(el.getAttribute('placeholder')) || cut(el.getAttribute('title'));
    return cut(el.innerText || el.textContent) || cut(el.getAttribute('title')) || cut(el.getAttribute('alt'));
  };
  // Class names that look generated (hashes, CSS-in-JS) say nothing a replay can trust.
  const stableClass = (c) => /^[a-z][a-z-]{2,30}$/i.test(c) && !/\d/.test(c);
  const cssPath = (el) => {
    const parts = [];
    for (let node = el; node && node.nodeType === 1 && parts.length < 4; node = node.parentElement) {
      if (node.id && /^[A-Za-z][\w-]*$/.test(node.id)) { parts.unshift('#' + node.id); break; }
      let part = node.tagName.toLowerCase();
      const classes = [...node.classList].filter(stableClass).slice(0, 2);
      if (classes.length) part += '.' + classes.join('.');
      const parent = node.parentElement;
      if (parent) {
        const same = [...parent.children].filter((c) => c.tagName === node.tagName);
        if (same.length > 1) part += ':nth-of-type(' + (same.indexOf(node) + 1) + ')';
      }
      parts.unshift(part);
    }
    return parts.join(' > ').slice(0, 240);
  };
  const describe = (el) => ({
    role: roleOf(el), name: nameOf(el), label: el.matches('input, textarea, select') ? labelOf(el) : '',
    test_id: cut(el.getAttribute('data-testid')), id: cut(el.id), css: cssPath(el),
    kind: el.tagName === 'INPUT' ? (el.type || 'text') : el.tagName.toLowerCase(),
  });
  const ACTIONABLE = 'a[href], button, input, select, textarea, summary, label, [role], [onclick], [tabindex]';
  addEventListener('click', (e) => {
    const origin = e.composedPath()[0];
    // A click no pointer made (Enter submitting a form clicks its button) is the key's
    // doing: the key is the action, or a replay would do it twice.
    if (!(origin instanceof Element) || e.detail === 0) return;
    send(e, { type: 'acted', action: 'click', element: describe(origin.closest(ACTIONABLE) || origin) });
  }, { capture: true, passive: true });
  // A field's value once the person paused typing, left the field or pressed a key that
  // acts (Enter): one report per pause, stamped with the last keystroke's time, so that
  // it comes before what the key did.
  const pending = new Map();
  const fill = (el) => {
    const { timer, last } = pending.get(el);
    clearTimeout(timer);
    pending.delete(el);
    const secret = secretField(el) || /one-time-code/.test(el.autocomplete || '');
    send(last, { type: 'acted', action: 'fill', element: describe(el), secret, ...(secret ? {} : { value: String(el.value).slice(0, 2000) }) });
  };
  const flushFills = () => [...pending.keys()].forEach(fill);
  const isField = (el) => el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement ||
    (el instanceof HTMLInputElement && !['button', 'submit', 'reset', 'checkbox', 'radio', 'file', 'image'].includes(el.type));
  addEventListener('input', (e) => {
    const el = e.composedPath()[0];
    if (!isField(el)) return;
    if (pending.has(el)) clearTimeout(pending.get(el).timer);
    pending.set(el, { timer: setTimeout(() => fill(el), 600), last: e });
  }, { capture: true, passive: true });
  addEventListener('change', (e) => {
    const el = e.composedPath()[0];
    if (isField(el) && pending.has(el)) fill(el);
  }, { capture: true, passive: true });
})();
