// blur_emails: masks e-mail-shaped text before it is painted, in every frame, without
// touching the page's DOM structure or layout. Runs at document start in an isolated world
// (the page's scripts cannot see or undo it).
//
// What counts as an address is anything that could be part of one: a word holding an `@`
// (`alex.morgan@example.c` while it is being typed, `@example.com`), any value in a
// field meant for an address (type email, autocomplete email or username, a name, id,
// placeholder, label or aria-label saying e-mail, or a field demoreel is about to type an
// address into: `data-demoreel-address`) from its first character (`alex.mo`), and text
// repeating such a field's value as a word of its own (a live "Inviting alex.mo" echo).
// What a page's own script puts into a plain field is masked from its `@` on: before
// that, nothing tells it from any other text.
//
// - Text: CSS Custom Highlights paint matched ranges as a solid bar (transparent text on a
//   grey background): no node is added or split, so frameworks keep their DOM and nothing
//   moves. Mutations are rescanned in the same task, before the next paint.
// - Input and textarea values: `-webkit-text-security: disc` while the value holds an
//   address (or any value, in an address field), checked on every input event and before
//   every animation frame (scripts set values without an event). A field demoreel typed
//   a secret into (`data-demoreel-secret`) stays masked whatever it holds.
// - Placeholders and title attributes: the address is replaced with bullets.
// - Open shadow roots get the same treatment.
// Masked rectangles are reported through the `__demoreelRedact` binding (CSS px of the
// top-level viewport) for the frame-level pass.
(() => {
  if (window.__demoreelMasking) return;
  window.__demoreelMasking = true;
  const EMAIL = /[^\s@]*@\S*/g;
  const HAS_EMAIL = /@/;
  const ADDRESS_WORDS = /e-?mail|@/i;
  const NAME = 'demoreel-email';
  const highlight = new Highlight();
  CSS.highlights.set(NAME, highlight);
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`::highlight(${NAME}) { color: transparent; background-color: #9aa3b2; }`);
  const ranges = new Map(); // text node → its ranges
  const roots = new Set();

  const adopt = (root) => {
    if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  };

  // The values of address fields that hold no `@` yet (an address being typed), each as
  // a pattern matching it as a word of its own: text echoing one is part of an address.
  const partials = new Map(); // field → { value, pattern }
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const wordOf = (value) => new RegExp(`(?<![\\w.+-])${escape(value)}(?![\\w.+-])`, 'g');

  // [start, length] of each part of `text` to mask.
  const addressParts = (text) => {
    const parts = [];
    if (HAS_EMAIL.test(text)) for (const m of text.matchAll(EMAIL)) parts.push([m.index, m[0].length]);
    for (const [field, { pattern }] of partials) {
      if (!field.isConnected) partials.delete(field);
      else for (const m of text.matchAll(pattern)) parts.push([m.index, m[0].length]);
    }
    return parts;
  };

  const maskText = (node) => {
    const old = ranges.get(node);
    if (old) old.forEach((r) => highlight.delete(r));
    ranges.delete(node);
    const text = node.nodeValue;
    if (!text) return;
    const list = [];
    for (const [start, length] of addressParts(text)) {
      const r = new Range();
      r.setStart(node, start);
      r.setEnd(node, start + length);
      highlight.add(r);
      list.push(r);
    }
    if (list.length) ranges.set(node, list);
  };

  // A field's partial address changed: the text already on the page is read again for
  // it (an echo the page wrote before this field's change was seen).
  const notePartial = (el, value) => {
    const partial = value.length >= 2 && !HAS_EMAIL.test(value) ? value : null;
    const was = partials.has(el) ? partials.get(el).value : null;
    if (was === partial) return;
    if (partial) partials.set(el, { value: partial, pattern: wordOf(partial) });
    else partials.delete(el);
    for (const root of roots) {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) maskText(n);
    }
  };

  const bullets = (s) => s.replace(EMAIL, (m) => '•'.repeat(Math.min(m.length, 12)));

  const maskElement = (el) => {
    for (const attr of ['placeholder', 'title', 'aria-label']) {
      const v = el.getAttribute && el.getAttribute(attr);
      if (v && HAS_EMAIL.test(v)) el.setAttribute(attr, bullets(v));
    }
    if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') maskValue(el);
    if (el.shadowRoot && !roots.has(el.shadowRoot)) watch(el.shadowRoot);
  };

  // A field meant for an address: masked from its first character.
  const addressField = (el) => {
    if (el.hasAttribute('data-demoreel-address')) return true;
    if ((el.type || '').toLowerCase() === 'email') return true;
    if (/email|username/i.test(el.getAttribute('autocomplete') || '')) return true;
    for (const attr of ['name', 'id', 'placeholder', 'aria-label']) {
      if (ADDRESS_WORDS.test(el.getAttribute(attr) || '')) return true;
    }
    return Array.from(el.labels || []).some((label) => ADDRESS_WORDS.test(label.textContent || ''));
  };

  const maskValue = (el) => {
    if (el.tagName !== 'INPUT' && el.tagName !== 'TEXTAREA') return;
    if (el.hasAttribute('data-demoreel-secret')) return;
    const value = el.value || '';
    const inAddressField = value !== '' && addressField(el);
    notePartial(el, inAddressField ? value : '');
    const secret = HAS_EMAIL.test(value) || inAddressField;
    const masked = el.style.getPropertyValue('-webkit-text-security') === 'disc';
    if (secret && !masked) el.style.setProperty('-webkit-text-security', 'disc', 'important');
    if (!secret && masked) el.style.removeProperty('-webkit-text-security');
  };

  const scan = (root) => {
    if (root.nodeType === Node.TEXT_NODE) return maskText(root);
    if (root.nodeType === Node.ELEMENT_NODE) maskElement(root);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.nodeType === Node.TEXT_NODE) maskText(n);
      else maskElement(n);
    }
  };

  function watch(root) {
    roots.add(root);
    adopt(root);
    new MutationObserver((records) => {
      for (const rec of records) {
        if (rec.type === 'characterData') maskText(rec.target);
        else if (rec.type === 'attributes') maskElement(rec.target);
        else rec.addedNodes.forEach(scan);
      }
    }).observe(root, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['placeholder', 'title', 'aria-label', 'value'] });
    scan(root);
  }

  watch(document);
  document.addEventListener('input', (e) => e.target && maskValue(e.target), true);
  // Values set by scripts raise no event: every field is checked before each frame is
  // painted. Shadow roots appear without an event too.
  const beforePaint = () => {
    for (const root of roots) root.querySelectorAll('input, textarea').forEach(maskValue);
    requestAnimationFrame(beforePaint);
  };
  requestAnimationFrame(beforePaint);
  setInterval(() => {
    document.querySelectorAll('*').forEach((el) => el.shadowRoot && !roots.has(el.shadowRoot) && watch(el.shadowRoot));
  }, 100);

  // Report what is masked and can be seen, in top-level CSS px, for the frame-level
  // redaction. Text under a dialog or its backdrop is not reported: blurring its
  // rectangle would smear the dialog drawn over it.
  const seen = (node, b) => {
    const root = node.getRootNode();
    const hit = (root.elementFromPoint ? root : document).elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
    const own = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
    return !!hit && !!own && (hit === own || own.contains(hit) || hit.contains(own));
  };
  if (window.top === window) {
    setInterval(() => {
      if (typeof __demoreelRedact !== 'function') return;
      const rects = [];
      for (const list of ranges.values()) {
        for (const r of list) {
          for (const b of r.getClientRects()) if (b.width > 0 && seen(r.startContainer, b)) rects.push([b.x, b.y, b.width, b.height]);
        }
      }
      document.querySelectorAll('input, textarea').forEach((el) => {
        if (el.style.getPropertyValue('-webkit-text-security') === 'disc') {
          const b = el.getBoundingClientRect();
          if (seen(el, b)) rects.push([b.x, b.y, b.width, b.height]);
        }
      });
      if (rects.length) __demoreelRedact(JSON.stringify(rects));
    }, 250);
  }
})();
