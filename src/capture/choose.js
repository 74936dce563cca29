// Chooses an option of the drop-down (a <select>, or the one a <label> there is for) at
// a point of the viewport, in CSS px: the option whose value is `option`, else the one
// whose visible text is. Fires `input` and `change` as a person's choice does. Answers
// '' when chosen, else why not (naming the options there are, so a failed step says
// what the page offered).
([x, y, option]) => {
  const at = document.elementFromPoint(x, y);
  let select = at && at.closest('select');
  if (!select && at && at.closest('label') && at.closest('label').control instanceof HTMLSelectElement) {
    select = at.closest('label').control;
  }
  if (!select) return 'the element found is not a drop-down (select)';
  const options = [...select.options];
  const found = options.find((o) => o.value === option) || options.find((o) => o.text.trim() === option.trim());
  if (!found) {
    const offered = options.map((o) => JSON.stringify(o.text.trim())).join(', ').slice(0, 300);
    return `the drop-down has no option ${JSON.stringify(option)} (it offers ${offered})`;
  }
  if (found.disabled || select.disabled) return `the option ${JSON.stringify(option)} cannot be chosen (disabled)`;
  select.focus();
  found.selected = true;
  select.dispatchEvent(new Event('input', { bubbles: true }));
  select.dispatchEvent(new Event('change', { bubbles: true }));
  return '';
}
