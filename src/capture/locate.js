// Finds the element a step means and answers its centre in CSS px ([x, y]), or null.
// query: {selector} | {text} | {role, name}. The element is scrolled into view first.
(query) => {
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0';
  };
  const norm = (t) => (t || '').replace(/\s+/g, ' ').trim().toLowerCase();
  const accessibleName = (el) => {
    const labelled = el.getAttribute('aria-labelledby');
    if (labelled) {
      const text = labelled.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ');
      if (norm(text)) return norm(text);
    }
    if (el.getAttribute('aria-label')) return norm(el.getAttribute('aria-label'));
    if (el.labels && el.labels.length) return norm(el.labels[0].textContent);
    if (el.tagName === 'INPUT' && ['button', 'submit'].includes(el.type)) return norm(el.value);
    const text = norm(el.innerText || el.textContent);
    return text || norm(el.getAttribute('placeholder') || el.getAttribute('title'));
  };
  const ROLES = {
    button: 'button, [role=button], input[type=button], input[type=submit]',
    link: 'a[href], [role=link]',
    textbox: 'input:not([type]), input[type=text], input[type=email], input[type=password], input[type=search], input[type=tel], input[type=url], input[type=number], textarea, [role=textbox], [contenteditable=true]',
    checkbox: 'input[type=checkbox], [role=checkbox]',
    combobox: 'select:not([multiple]), [role=combobox]',
    tab: '[role=tab]',
    menuitem: '[role=menuitem]',
    option: 'option, [role=option]',
    heading: 'h1, h2, h3, h4, h5, h6, [role=heading]',
  };
  let el = null;
  if (query.selector) {
    el = [...document.querySelectorAll(query.selector)].find(visible) || null;
  } else if (query.role) {
    const candidates = [...document.querySelectorAll(ROLES[query.role] || `[role=${query.role}]`)].filter(visible);
    const name = norm(query.name);
    el = candidates.find((c) => !name || accessibleName(c) === name) || candidates.find((c) => name && accessibleName(c).includes(name)) || null;
  } else if (query.text) {
    const wanted = norm(query.text);
    const all = [...document.querySelectorAll('body *')].filter(visible);
    // The smallest element whose text is exactly the wanted text, else one that holds it.
    const exact = all.filter((e) => norm(e.innerText) === wanted);
    const holding = all.filter((e) => norm(e.innerText).includes(wanted));
    const pick = (list) => list.sort((a, b) => a.innerText.length - b.innerText.length || b.contains(a) - a.contains(b))[0];
    el = pick(exact) || pick(holding) || null;
    if (el) el = el.closest('button, a[href], [role=button], [role=link], label, input') || el;
  }
  if (!el) return null;
  el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
  const r = el.getBoundingClientRect();
  return [r.left + r.width / 2, r.top + r.height / 2];
}
