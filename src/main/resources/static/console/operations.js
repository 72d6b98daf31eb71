// Operations (admin key): the engine's live numbers from /admin/stats, and tenants with their keys and limits
// through /admin/tenants.

import {admin, keys} from './api.js';
import {clearErrors, describe, empty, field, fill, formMessage, h, notice, section, showError, when} from './ui.js';

const POLL_MS = 2000;
const HISTORY = 60;
const SVG = 'http://www.w3.org/2000/svg';

export default {
  title: 'Operations',
  needs: 'admin',
  render(main, context) {
    const live = liveView();
    const message = h('div', {id: 'operations-message'});
    const tenantsEl = h('div', {id: 'tenants', class: 'cards'});

    async function refresh() {
      try {
        renderTenants(tenantsEl, (await admin('/tenants')).data, refresh, say);
      } catch (e) {
        say('error', 'Could not list the tenants: ' + describe(e));
      }
    }

    function say(kind, text) {
      fill(message, notice(kind, text));
    }

    fill(main, section('Engine, live', live.el),
        section('Tenants', message, createTenantForm(refresh, context), tenantsEl));
    refresh();
    const timer = setInterval(live.poll, POLL_MS);
    live.poll();
    return () => clearInterval(timer);
  },
};

/** Queue depth, running rows and tokens/s, read every POLL_MS; tokens/s is the counter's rise between reads. */
function liveView() {
  const value = (id, label, unit) => {
    const dd = h('span', {id, class: 'value', text: '—'});
    return {dd, nodes: [h('div', {class: 'metric'}, h('dt', {text: label}),
        h('dd', {}, dd, ' ', h('span', {class: 'muted', text: unit})))]};
  };
  const queue = value('stat-queue', 'Queue depth', 'rows waiting');
  const running = value('stat-running', 'Running rows', 'in the batch');
  const rate = value('stat-rate', 'Tokens/s', 'generated');
  const kv = value('stat-kv', 'KV cache', 'tokens reserved');
  const total = value('stat-generated', 'Generated', 'tokens since start');
  const chart = document.createElementNS(SVG, 'svg');
  chart.setAttribute('viewBox', '0 0 ' + HISTORY + ' 20');
  chart.setAttribute('preserveAspectRatio', 'none');
  chart.setAttribute('class', 'spark');
  chart.setAttribute('role', 'img');
  chart.setAttribute('aria-label', 'Tokens per second over the last two minutes');
  const line = document.createElementNS(SVG, 'polyline');
  chart.append(line);
  const error = h('div', {});
  const history = [];
  let previous = null;
  const el = h('div', {}, h('dl', {class: 'metrics'}, queue.nodes, running.nodes, rate.nodes, kv.nodes,
      total.nodes), chart, h('p', {class: 'hint', text: 'Refreshed every ' + POLL_MS / 1000 + ' s from '
      + '/admin/stats (the same meters as /actuator/prometheus).'}), error);

  async function poll() {
    try {
      const s = await admin('/stats');
      fill(error);
      queue.dd.textContent = s.queue_depth;
      running.dd.textContent = s.running_rows;
      kv.dd.textContent = s.kv_cache_used_tokens + ' / ' + s.kv_cache_capacity_tokens;
      total.dd.textContent = s.generated_tokens;
      if (previous && s.timestamp_ms > previous.timestamp_ms) {
        const r = (s.generated_tokens - previous.generated_tokens) * 1000 / (s.timestamp_ms - previous.timestamp_ms);
        rate.dd.textContent = r.toFixed(1);
        history.push(r);
        if (history.length > HISTORY) {
          history.shift();
        }
        const max = Math.max(1, ...history);
        line.setAttribute('points', history.map((v, i) => (HISTORY - history.length + i) + ','
            + (19 - 18 * v / max).toFixed(2)).join(' '));
      }
      previous = s;
    } catch (e) {
      fill(error, notice('error', 'Could not read the engine stats: ' + describe(e)));
    }
  }
  return {el, poll};
}

function limitInput(id, value) {
  return h('input', {type: 'number', id, min: 1, step: 1, inputmode: 'numeric', placeholder: 'unlimited',
    value: value === null || value === undefined ? '' : String(value)});
}

/** A limit as the API takes it: a positive integer, or null for unlimited. */
function limitValue(input) {
  return input.value.trim() === '' ? null : Number(input.value);
}

function createTenantForm(refresh, context) {
  const name = h('input', {type: 'text', id: 'tenant-name', autocomplete: 'off', required: true});
  const rpm = limitInput('tenant-rpm', null);
  const tpm = limitInput('tenant-tpm', null);
  const issued = h('div', {id: 'issued-key'});
  const form = h('form', {id: 'tenant-form', class: 'stack', novalidate: true},
      h('h3', {text: 'New tenant'}),
      h('div', {class: 'grid4'}, field('Name', name, {param: 'name'}),
          field('Requests per minute', rpm, {param: 'requests_per_minute', hint: 'empty = unlimited'}),
          field('Tokens per minute', tpm, {param: 'tokens_per_minute', hint: 'empty = unlimited'})),
      h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', text: 'Create tenant'})),
      h('p', {class: 'form-message', hidden: true}), issued);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const t = await admin('/tenants', {method: 'POST', json: {name: name.value.trim(),
        requests_per_minute: limitValue(rpm), tokens_per_minute: limitValue(tpm)}});
      form.reset();
      fill(issued, keyShownOnce(t.name, t.api_key, context));
      refresh();
    } catch (e) {
      showError(form, e);
    }
  });
  return form;
}

/** A new key, shown this once; it can become this tab's tenant key for the playground and the registry. */
function keyShownOnce(tenant, key, context) {
  return h('div', {class: 'notice ok', role: 'status'},
      h('p', {text: 'Key of ' + tenant + ' (shown only now, the server keeps its hash):'}),
      h('p', {}, h('code', {class: 'key', text: key})),
      h('button', {type: 'button', class: 'small', text: 'Use this key in this tab', onclick: () => {
        keys.setTenant(key);
        context.signedIn();
      }}));
}

function renderTenants(el, tenants, refresh, say) {
  if (!tenants.length) {
    fill(el, empty('No tenants yet. Create one above: it gets a key for the /v1 API.'));
    return;
  }
  fill(el, ...tenants.map(t => tenantCard(t, refresh, say)));
}

function tenantCard(t, refresh, say) {
  const id = 'tenant-' + t.name;
  const rpm = limitInput(id + '-rpm', t.requests_per_minute);
  const tpm = limitInput(id + '-tpm', t.tokens_per_minute);
  const limits = h('form', {class: 'stack', novalidate: true, 'aria-label': 'Limits of ' + t.name},
      h('div', {class: 'grid2'}, field('Requests per minute', rpm, {param: 'requests_per_minute'}),
          field('Tokens per minute', tpm, {param: 'tokens_per_minute'})),
      h('div', {class: 'actions'}, h('button', {type: 'submit', text: 'Save limits'})),
      h('p', {class: 'form-message', hidden: true}));
  limits.addEventListener('submit', async ev => {
    ev.preventDefault();
    try {
      await admin('/tenants/' + encodeURIComponent(t.name), {method: 'PATCH',
        json: {requests_per_minute: limitValue(rpm), tokens_per_minute: limitValue(tpm)}});
      clearErrors(limits);
      formMessage(limits, 'ok', 'Saved.');
    } catch (e) {
      showError(limits, e);
    }
  });
  const keysEl = h('div', {class: 'keys'});
  const keysButton = h('button', {type: 'button', class: 'small', 'aria-expanded': 'false',
    text: 'Show keys', onclick: () => toggleKeys()});
  async function toggleKeys(force) {
    const open = force !== undefined ? force : keysButton.getAttribute('aria-expanded') !== 'true';
    keysButton.setAttribute('aria-expanded', String(open));
    keysButton.textContent = open ? 'Hide keys' : 'Show keys';
    if (!open) {
      fill(keysEl);
      return;
    }
    try {
      const list = (await admin('/tenants/' + encodeURIComponent(t.name) + '/keys')).data;
      fill(keysEl, list.length ? h('ul', {class: 'plain'}, ...list.map(k => h('li', {},
          h('code', {text: k.id}), ' ', h('span', {class: 'muted', text: when(k.created_at)}), ' ',
          h('button', {type: 'button', class: 'small danger', text: 'Revoke',
            'aria-label': 'Revoke key ' + k.id, onclick: async () => {
              if (!confirm('Revoke key ' + k.id + ' of ' + t.name + '?')) {
                return;
              }
              try {
                await admin('/tenants/' + encodeURIComponent(t.name) + '/keys/' + encodeURIComponent(k.id),
                    {method: 'DELETE'});
                toggleKeys(true);
              } catch (e) {
                say('error', describe(e));
              }
            }})))) : empty('No keys: this tenant cannot call the API until it gets one.'),
          h('button', {type: 'button', class: 'small', text: 'Issue a key', onclick: async () => {
            try {
              const k = await admin('/tenants/' + encodeURIComponent(t.name) + '/keys', {method: 'POST'});
              await toggleKeys(true);
              keysEl.append(h('p', {class: 'notice ok', role: 'status'}, 'New key (shown only now): ',
                  h('code', {class: 'key', text: k.api_key})));
            } catch (e) {
              say('error', describe(e));
            }
          }}));
    } catch (e) {
      fill(keysEl, notice('error', describe(e)));
    }
  }
  return h('article', {class: 'card', 'data-tenant': t.name, 'aria-labelledby': id + '-title'},
      h('h3', {id: id + '-title'}, h('code', {text: t.name})),
      h('p', {class: 'hint', text: 'Created ' + when(t.created_at)}),
      limits,
      h('div', {class: 'actions'}, keysButton, h('button', {type: 'button', class: 'small danger',
        text: 'Delete tenant', onclick: async () => {
          if (!confirm('Delete tenant ' + t.name + ' with its keys, interventions and tasks?')) {
            return;
          }
          try {
            await admin('/tenants/' + encodeURIComponent(t.name), {method: 'DELETE'});
            say('ok', 'Deleted tenant ' + t.name + '.');
            refresh();
          } catch (e) {
            say('error', describe(e));
          }
        }})),
      keysEl);
}
