// Registry: the caller's intervention versions (upload, delete) and tasks (routes and their weights). Every
// refusal shows the server's own message, next to the field its `param` names.

import {ApiError, errorOf, keys, send, v1} from './api.js';
import {bytes, clearErrors, describe, empty, field, fill, formMessage, h, notice, section, showError, when}
  from './ui.js';

export default {
  title: 'Registry',
  needs: 'tenant',
  render(main) {
    const message = h('div', {id: 'registry-message'});
    const versionsEl = h('div', {id: 'interventions'});
    const tasksEl = h('div', {id: 'tasks'});
    let versions = [];

    async function refresh() {
      try {
        const [iv, tasks] = await Promise.all([v1('/interventions'), v1('/tasks')]);
        versions = iv.data;
        renderVersions(versionsEl, versions, remove);
        renderTasks(tasksEl, tasks.data, versions, refresh, say);
      } catch (e) {
        say('error', 'Could not load the registry: ' + describe(e));
      }
    }

    function say(kind, text) {
      fill(message, notice(kind, text));
    }

    async function remove(name, version) {
      const what = version ? name + '@' + version : 'every version of ' + name;
      if (!confirm('Delete ' + what + '?')) {
        return;
      }
      try {
        await v1('/interventions/' + encodeURIComponent(name)
            + (version ? '/versions/' + version : ''), {method: 'DELETE'});
        say('ok', 'Deleted ' + what + '.');
      } catch (e) {
        say('error', 'Cannot delete ' + what + ': ' + describe(e)
            + (e.status === 409 ? '. Change or delete the task first.' : ''));
      }
      refresh();
    }

    fill(main,
        section('Upload a bundle', uploadForm(refresh)),
        section('Interventions', message, versionsEl),
        section('Tasks', h('p', {class: 'hint', text: 'A task routes completions to intervention versions by '
            + 'weight (a canary is 90/10). Completions name the task as their model.'}), tasksEl));
    refresh();
  },
};

function uploadForm(refresh) {
  const file = h('input', {type: 'file', id: 'upload-bundle', name: 'bundle', accept: '.zip,application/zip',
    required: true});
  const name = h('input', {type: 'text', id: 'upload-name', name: 'name', autocomplete: 'off'});
  const positions = h('input', {type: 'text', id: 'upload-positions', name: 'positions', autocomplete: 'off',
    placeholder: 'f5+l5'});
  const share = h('select', {id: 'upload-share', name: 'share_weights'},
      h('option', {value: '', text: '(not given)'}), h('option', {value: 'false', text: 'no'}),
      h('option', {value: 'true', text: 'yes'}));
  const form = h('form', {id: 'upload-form', class: 'stack', novalidate: true},
      h('div', {class: 'grid4'},
          field('Bundle (.zip)', file, {param: 'bundle',
            hint: 'A native reft-bundle/1 zip, or a zipped pyreft save directory.'}),
          field('Name', name, {param: 'name', hint: 'Defaults to the file name; an existing name gets a new '
              + 'version.'}),
          field('Positions', positions, {param: 'positions', hint: 'pyreft only: fN, lN or fN+lN.'}),
          field('Share weights', share, {param: 'share_weights', hint: 'pyreft only.'})),
      h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'upload', text: 'Upload'})),
      h('p', {class: 'form-message', hidden: true}));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(form);
    if (!file.files.length) {
      showError(form, new ApiError(400, {param: 'bundle', message: 'Choose a .zip file.'}));
      return;
    }
    const data = new FormData();
    data.append('bundle', file.files[0]);
    for (const input of [name, positions, share]) {
      if (input.value.trim()) {
        data.append(input.name, input.value.trim());
      }
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const r = await send('/v1/interventions', {method: 'POST', key: keys.tenant(), body: data});
      if (!r.ok) {
        throw await errorOf(r);
      }
      const v = await r.json();
      form.reset();
      formMessage(form, 'ok', 'Stored ' + v.id + ': ' + v.type + ', layers ' + v.layers.join(', ') + ', rank '
          + v.rank + ', positions ' + v.positions + '.');
      refresh();
    } catch (e) {
      showError(form, e);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function renderVersions(el, versions, remove) {
  if (!versions.length) {
    fill(el, empty('No interventions yet. Upload a bundle above; each upload of a name adds a version.'));
    return;
  }
  const byName = new Map();
  for (const v of versions) {
    byName.set(v.name, (byName.get(v.name) || []).concat([v]));
  }
  const head = h('thead', {}, h('tr', {}, ...['Version', 'Type', 'Layers', 'Rank', 'Positions', 'Size',
    'SHA-256', 'Created', 'Actions'].map(t => h('th', {scope: 'col', text: t}))));
  const bodies = [...byName.entries()].map(([name, vs]) => h('tbody', {'data-name': name},
      h('tr', {class: 'group'}, h('th', {scope: 'rowgroup', colspan: 8, text: name + ' (' + vs.length
          + (vs.length === 1 ? ' version)' : ' versions)')}),
          h('td', {}, h('button', {type: 'button', class: 'small danger', 'aria-label': 'Delete every version of '
              + name, text: 'Delete all', onclick: () => remove(name, null)}))),
      ...vs.map(v => h('tr', {'data-id': v.id},
          h('th', {scope: 'row'}, h('code', {text: v.id})),
          h('td', {text: v.type}), h('td', {text: v.layers.join(', ')}), h('td', {text: v.rank}),
          h('td', {text: v.positions + (v.share_weights ? ' (shared)' : '')}), h('td', {text: bytes(v.bytes)}),
          h('td', {}, h('code', {class: 'sha', title: v.sha256, text: v.sha256.slice(0, 12) + '…'})),
          h('td', {text: when(v.created_at)}),
          h('td', {class: 'row-actions'},
              h('a', {class: 'button small', href: '#/playground?model=' + encodeURIComponent(v.id),
                text: 'Try', 'aria-label': 'Try ' + v.id + ' in the playground'}),
              h('button', {type: 'button', class: 'small danger', text: 'Delete', 'aria-label': 'Delete ' + v.id,
                onclick: () => remove(v.name, v.version)}))))));
  fill(el, h('div', {class: 'table-wrap'}, h('table', {}, h('caption', {class: 'sr-only',
    text: 'Intervention versions by name'}), head, ...bodies)));
}

/** The options a route may name: each version, and each name alone (pinned to its latest when saved). */
function routeOptions(versions, current) {
  const ids = versions.map(v => v.id);
  const names = [...new Set(versions.map(v => v.name))];
  const options = ids.map(id => h('option', {value: id, text: id}))
      .concat(names.map(n => h('option', {value: n, text: n + ' (latest)'})));
  if (current && !ids.includes(current) && !names.includes(current)) {
    options.unshift(h('option', {value: current, text: current + ' (deleted)'}));
  }
  return options;
}

/** An editable list of routes inside {@code form}; returns a function that reads them back. */
function routesEditor(form, prefix, versions, routes) {
  const list = h('div', {class: 'routes'});
  const total = h('p', {class: 'hint', 'aria-live': 'polite'});
  function rows() {
    return [...list.querySelectorAll('.route')];
  }
  function renumber() {
    const all = rows();
    const sum = all.reduce((s, r) => s + (Number(r.querySelector('.weight').value) || 0), 0);
    all.forEach((row, i) => {
      const select = row.querySelector('select');
      const weight = row.querySelector('.weight');
      select.dataset.param = 'routes[' + i + '].intervention';
      weight.dataset.param = 'routes[' + i + '].weight';
      row.querySelector('.remove').disabled = all.length === 1;
      const w = Number(weight.value) || 0;
      row.querySelector('.share').textContent = sum > 0 ? Math.round(100 * w / sum) + '%' : '';
    });
    total.textContent = all.length + (all.length === 1 ? ' route' : ' routes') + ', weights sum to ' + sum + '.';
  }
  let made = 0;
  function add(route) {
    const n = made++;
    const select = h('select', {id: prefix + '-route-' + n, class: 'intervention'},
        ...routeOptions(versions, route.intervention));
    select.value = route.intervention || (versions[0] ? versions[0].id : '');
    const weight = h('input', {type: 'number', id: prefix + '-weight-' + n, class: 'weight', min: 1, step: 1,
      inputmode: 'numeric', value: String(route.weight), oninput: renumber});
    const row = h('div', {class: 'route'},
        field('Intervention', select), field('Weight', weight),
        h('span', {class: 'share', 'aria-label': 'share of traffic'}),
        h('button', {type: 'button', class: 'small remove', text: 'Remove',
          onclick: () => {
            row.remove();
            renumber();
          }}));
    list.append(row);
    renumber();
  }
  routes.forEach(add);
  const addButton = h('button', {type: 'button', class: 'small', text: 'Add route',
    onclick: () => add({intervention: '', weight: 1})});
  form.append(list, total, addButton);
  return () => rows().map(r => ({intervention: r.querySelector('select').value,
    weight: Number(r.querySelector('.weight').value)}));
}

function renderTasks(el, tasks, versions, refresh, say) {
  if (!versions.length && !tasks.length) {
    fill(el, empty('No tasks yet. Upload an intervention first; a task routes to its versions.'));
    return;
  }
  fill(el, tasks.length ? null : empty('No tasks yet. Define one below to route a name to versions by weight.'));
  el.append(...tasks.map(task => {
    const form = h('form', {class: 'task stack', 'data-task': task.name, novalidate: true,
      'aria-label': 'Task ' + task.name}, h('h3', {}, h('code', {text: task.name})),
        h('p', {class: 'hint', text: 'Updated ' + when(task.updated_at)}));
    const read = routesEditor(form, 'task-' + task.name, versions, task.routes);
    form.append(h('div', {class: 'actions'},
        h('button', {type: 'submit', class: 'primary', text: 'Save routes', 'aria-label': 'Save routes of '
            + task.name}),
        h('a', {class: 'button', href: '#/playground?model=' + encodeURIComponent(task.name), text: 'Try'}),
        h('button', {type: 'button', class: 'danger', text: 'Delete task', onclick: async () => {
          if (!confirm('Delete task ' + task.name + '?')) {
            return;
          }
          try {
            await v1('/tasks/' + encodeURIComponent(task.name), {method: 'DELETE'});
            say('ok', 'Deleted task ' + task.name + '.');
            refresh();
          } catch (e) {
            formMessage(form, 'error', describe(e));
          }
        }})),
        h('p', {class: 'form-message', hidden: true}));
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      try {
        const saved = await v1('/tasks/' + encodeURIComponent(task.name), {method: 'PUT',
          json: {routes: read()}});
        clearErrors(form);
        formMessage(form, 'ok', 'Saved: ' + saved.routes.map(r => r.intervention + ' × ' + r.weight).join(', ')
            + '.');
      } catch (e) {
        showError(form, e);
      }
    });
    return form;
  }));
  if (versions.length) {
    el.append(newTaskForm(versions, refresh));
  }
}

function newTaskForm(versions, refresh) {
  const name = h('input', {type: 'text', id: 'new-task-name', autocomplete: 'off', required: true});
  const form = h('form', {id: 'new-task-form', class: 'task stack', novalidate: true, 'aria-label': 'New task'},
      h('h3', {text: 'New task'}), field('Task name', name, {param: 'task'}));
  const read = routesEditor(form, 'new-task', versions, [{intervention: '', weight: 1}]);
  form.append(h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', text: 'Create task'})),
      h('p', {class: 'form-message', hidden: true}));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    if (!name.value.trim()) {
      showError(form, new ApiError(400, {param: 'task', message: 'Enter a task name.'}));
      return;
    }
    try {
      await v1('/tasks/' + encodeURIComponent(name.value.trim()), {method: 'PUT', json: {routes: read()}});
      refresh();
    } catch (e) {
      showError(form, e);
    }
  });
  return form;
}
