// Small DOM helpers shared by the pages. Everything is built with createElement and textContent: server text is
// never parsed as HTML, and no inline style or script is needed (the Content-Security-Policy forbids both).

/** h('button', {type: 'button', onclick: f, class: 'x'}, 'Run'): an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else if (name === 'text') {
      el.textContent = value;
    } else if (name === 'value') {
      el.value = value;
    } else if (name === 'checked' || name === 'disabled' || name === 'selected') {
      el[name] = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of {@code el}. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A labelled form control with a slot for its error. {@code param} is the API field the control sends: errors
 * whose `param` names it are shown here (see showError).
 */
export function field(label, control, {param, hint} = {}) {
  const id = control.id || (control.id = 'f-' + Math.random().toString(36).slice(2, 9));
  const error = h('p', {class: 'field-error', id: id + '-error', hidden: true});
  const described = [id + '-error'];
  let hintEl = null;
  if (hint) {
    hintEl = h('p', {class: 'hint', id: id + '-hint', text: hint});
    described.push(id + '-hint');
  }
  control.setAttribute('aria-describedby', described.join(' '));
  if (param) {
    control.dataset.param = param;
  }
  return h('div', {class: 'field'}, h('label', {for: id, text: label}), control, hintEl, error);
}

/** Clears every field error and the form-level message of {@code form}. */
export function clearErrors(form) {
  for (const c of form.querySelectorAll('[aria-invalid="true"]')) {
    c.removeAttribute('aria-invalid');
  }
  for (const e of form.querySelectorAll('.field-error')) {
    e.hidden = true;
    e.textContent = '';
  }
  const top = form.querySelector('.form-message');
  if (top) {
    top.hidden = true;
    top.textContent = '';
    top.className = 'form-message';
  }
}

/**
 * Shows an ApiError against the control whose data-param equals the error's `param`, focusing it; errors that
 * name no control of the form go to its form-level message.
 */
export function showError(form, error) {
  clearErrors(form);
  const control = error.param ? [...form.querySelectorAll('[data-param]')]
      .find(c => c.dataset.param === error.param) : null;
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    const slot = document.getElementById(control.id + '-error');
    slot.textContent = describe(error);
    slot.hidden = false;
    control.focus();
    return;
  }
  formMessage(form, 'error', describe(error));
}

/** A form's own message line: 'error' or 'ok'. */
export function formMessage(form, kind, text) {
  const top = form.querySelector('.form-message');
  top.textContent = text;
  top.className = 'form-message ' + kind;
  top.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  top.hidden = false;
}

/** An error as a person reads it: the server's message, and its code when it has one. */
export function describe(error) {
  if (error instanceof TypeError) {
    return 'The server could not be reached (' + error.message + ').';
  }
  return error.message + (error.code ? ' (' + error.code + ')' : '');
}

/** A block that says why there is nothing to show, and what to do. */
export function empty(text, ...more) {
  return h('div', {class: 'empty'}, h('p', {text}), ...more);
}

/** A page-level notice: kind 'error' is announced at once, others politely. */
export function notice(kind, text) {
  return h('p', {class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status', text});
}

export function bytes(n) {
  if (n < 1024) {
    return n + ' B';
  }
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return v.toFixed(v < 10 ? 1 : 0) + ' ' + units[i];
}

/** Unix seconds as local date and time, to the minute. */
export function when(seconds) {
  const d = new Date(seconds * 1000);
  const p = n => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':'
      + p(d.getMinutes());
}

/** A section with a heading (h2) and content. */
export function section(title, ...children) {
  const id = 'h-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', {class: 'panel', 'aria-labelledby': id}, h('h2', {id, text: title}), ...children);
}
