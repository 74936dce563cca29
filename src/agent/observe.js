// What the page offers a planner, as JSON: the URL, title, visible headings, whether a
// dialog is open, and every visible interactive element with its role, accessible name,
// field facts and a CSS selector that finds it again. Reads the DOM only.
(() => {
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0';
  };
  const norm = (t) => (t || '').replace(/\s+/g, ' ').trim();
  const labelOf = (el) => {
    const by = el.getAttribute('aria-labelledby');
    if (by) { const t = by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' '); if (norm(t)) return norm(t); }
    if (el.getAttribute('aria-label')) return norm(el.getAttribute('aria-label'));
    if (el.labels && el.labels.length) return norm(el.labels[0].textContent);
    return '';
  };
  const nameOf = (el) => {
    const label = labelOf(el);
    if (label) return label;
    if (el.tagName === 'INPUT' && ['button', 'submit'].includes(el.type)) return norm(el.value);
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName)) return norm(el.getAttribute('placeholder') || el.getAttribute('title') || el.name);
    // Children's texts joined with spaces (innerText would glue inline spans together).
    const parts = [];
    const walk = (n) => { for (const c of n.childNodes) { if (c.nodeType === 3) parts.push(c.textContent); else if (c.nodeType === 1 && visible(c)) walk(c); } };
    walk(el);
    return norm(parts.join(' ')) || norm(el.getAttribute('title'));
  };
  const roleOf = (el) => {
    const explicit = el.getAttribute('role');
    if (explicit) return explicit;
    const t = el.tagName;
    if (t === 'A') return 'link';
    if (t === 'BUTTON' || (t === 'INPUT' && ['button', 'submit', 'reset'].includes(el.type))) return 'button';
    if (t === 'SELECT') return 'combobox';
    if (t === 'TEXTAREA' || el.isContentEditable) return 'textbox';
    if (t === 'INPUT') return ['checkbox', 'radio'].includes(el.type) ? el.type : 'textbox';
    return t.toLowerCase();
  };
  const selectorOf = (el) => {
    if (el.id && document.querySelectorAll('#' + CSS.escape(el.id)).length === 1) return '#' + CSS.escape(el.id);
    const path = [];
    for (let n = el; n && n.nodeType === 1 && n !== document.documentElement; n = n.parentElement) {
      if (n.id && document.querySelectorAll('#' + CSS.escape(n.id)).length === 1) { path.unshift('#' + CSS.escape(n.id)); break; }
      const same = [...(n.parentElement?.children || [])].filter((c) => c.tagName === n.tagName);
      path.unshift(n.tagName.toLowerCase() + (same.length > 1 ? `:nth-of-type(${same.indexOf(n) + 1})` : ''));
    }
    return path.join(' > ');
  };
  const dialogs = [...document.querySelectorAll('[role=dialog], dialog[open], [aria-modal=true]')].filter(visible);
  const interactive = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), textarea, select, [role=button], [role=link], [role=tab], [role=option], [role=menuitem], [role=checkbox], [contenteditable=true]')]
    .filter(visible)
    .slice(0, 400);
  const forms = [...document.forms];
  return JSON.stringify({
    url: location.href,
    title: document.title,
    headings: [...document.querySelectorAll('h1, h2, h3, [role=heading]')].filter(visible).map((h) => norm(h.textContent)).slice(0, 30),
    dialog_open: dialogs.length > 0,
    elements: interactive.map((el) => ({
      role: roleOf(el),
      name: nameOf(el).slice(0, 200),
      label: labelOf(el).slice(0, 200),
      tag: el.tagName.toLowerCase(),
      input_type: el.getAttribute('type') || '',
      autocomplete: el.getAttribute('autocomplete') || '',
      field_name: el.getAttribute('name') || '',
      placeholder: el.getAttribute('placeholder') || '',
      required: !!el.required || el.getAttribute('aria-required') === 'true',
      empty: 'value' in el ? !el.value : !norm(el.textContent),
      in_dialog: !!el.closest('[role=dialog], dialog, [aria-modal=true]'),
      form: el.form ? forms.indexOf(el.form) : -1,
      selector: selectorOf(el),
    })),
  });
})()
