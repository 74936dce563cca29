// Marks the field that has the focus, right before demoreel types into it, as `kind`:
//
// - 'secret' (a password, a one-time code): it shows discs (`-webkit-text-security`)
//   whatever it holds, in every output, with or without blur_emails. Run before each key
//   of a secret, so a page that moves the focus from box to box (a code split over six
//   fields) has each box masked before its character paints. The mark is kept before
//   every paint, so a page re-rendering the field's style attribute does not unmask it.
// - 'address' (typed text holding an e-mail address, with blur_emails): the field is
//   named an address field (`data-demoreel-address`), which the masking script masks
//   from its first character, before the `@` that would tell it otherwise.
//
// The focus is followed through open shadow roots and same-origin frames; a cross-origin
// frame's field cannot be reached (left unmarked). Answers the top page's host name,
// which a password's keys are checked against (one round trip per key, not two).
(kind) => {
  let el = document.activeElement;
  let doc = document;
  for (;;) {
    if (el && el.shadowRoot && el.shadowRoot.activeElement) {
      el = el.shadowRoot.activeElement;
    } else if (el && el.tagName === 'IFRAME') {
      let inner = null;
      try { inner = el.contentDocument; } catch (e) { inner = null; }
      if (!inner || !inner.activeElement) return location.hostname;
      doc = inner;
      el = inner.activeElement;
    } else {
      break;
    }
  }
  if (!el || el === doc.body || el === doc.documentElement) return location.hostname;
  if (kind === 'address') {
    el.setAttribute('data-demoreel-address', '');
    return location.hostname;
  }
  const mark = (field) => field.style.setProperty('-webkit-text-security', 'disc', 'important');
  el.setAttribute('data-demoreel-secret', '');
  mark(el);
  const win = doc.defaultView;
  if (win && !win.__demoreelSecretFields) {
    win.__demoreelSecretFields = new Set();
    const keep = () => {
      win.__demoreelSecretFields.forEach((field) => field.isConnected ? mark(field) : win.__demoreelSecretFields.delete(field));
      win.requestAnimationFrame(keep);
    };
    win.requestAnimationFrame(keep);
  }
  if (win) win.__demoreelSecretFields.add(el);
  return location.hostname;
}
