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
// The focus is followed through open shadow roots and same-origin frames. A cross-origin
// frame's document cannot be reached from here: the answer says so (`elsewhere`), and
// demoreel runs this script again in each of the page's other frames, where only the
// frame holding the focus marks its field. Answers the host name of the document it runs
// in (the top page's is what a password's keys are checked against: one round trip per
// key, not two).
(kind) => {
  const answer = (elsewhere) => ({ host: location.hostname, elsewhere });
  // Run inside a frame: every frame's document keeps its own last focused element, so
  // only the frame the focus is in may mark one.
  if (window !== window.top && !document.hasFocus()) return answer(false);
  let el = document.activeElement;
  let doc = document;
  for (;;) {
    if (el && el.shadowRoot && el.shadowRoot.activeElement) {
      el = el.shadowRoot.activeElement;
    } else if (el && el.tagName === 'IFRAME') {
      let inner = null;
      try { inner = el.contentDocument; } catch (e) { inner = null; }
      if (!inner) return answer(true);
      if (!inner.activeElement) return answer(false);
      doc = inner;
      el = inner.activeElement;
    } else {
      break;
    }
  }
  if (!el || el === doc.body || el === doc.documentElement) return answer(false);
  if (kind === 'address') {
    el.setAttribute('data-demoreel-address', '');
    return answer(false);
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
  return answer(false);
}
