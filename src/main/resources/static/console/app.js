// The console's shell: finds out how the server is secured, keeps the caller's keys, and shows one page at a
// time by the URL's hash (#/playground, #/registry, #/training, #/operations; a page may read ?name=value after
// its name).
// A page is {title, needs: 'tenant' | 'admin', render(main, context)}; render may return a function that stops
// whatever the page left running (streams, polling). Adding a page is one import and one entry in `pages`.

import {ApiError, errorOf, keys, send} from './api.js';
import {describe, field, fill, h, notice, section, showError} from './ui.js';
import playground from './playground.js';
import registry from './registry.js';
import training from './training.js';
import operations from './operations.js';

const pages = {playground, registry, training, operations};
const DEFAULT_PAGE = 'playground';

/** What the server told us at load: open mode (no key needed for /v1) and whether /admin exists at all. */
const server = {openMode: false, adminEnabled: true, reachable: true};

let stopPage = null;
let firstRoute = true;
/** Where the sign-in page returns to. */
let lastPage = '#/' + DEFAULT_PAGE;

async function detect() {
  try {
    const models = await send('/v1/models');
    server.openMode = models.ok;
    const stats = await send('/admin/stats');
    if (stats.status === 403) {
      server.adminEnabled = (await errorOf(stats)).code !== 'admin_disabled';
    }
  } catch (e) {
    server.reachable = false;
  }
}

const access = {
  tenant: () => server.openMode || Boolean(keys.tenant()),
  admin: () => server.adminEnabled && Boolean(keys.admin()),
};

function renderSession() {
  const el = document.getElementById('session');
  const parts = [];
  if (server.openMode) {
    parts.push(h('span', {class: 'badge', title: 'No admin key and no tenants: every call runs as tenant default',
      text: 'Open mode'}));
  }
  if (keys.tenant()) {
    parts.push(h('span', {class: 'badge', text: 'Tenant key …' + keys.tenant().slice(-4)}));
  }
  if (keys.admin()) {
    parts.push(h('span', {class: 'badge admin', text: 'Admin key …' + keys.admin().slice(-4)}));
  }
  if (!server.openMode || server.adminEnabled) {
    parts.push(h('a', {class: 'button small', href: '#/sign-in', text: keys.tenant() || keys.admin()
        ? 'Add a key' : 'Sign in'}));
  }
  if (keys.tenant() || keys.admin()) {
    parts.push(h('button', {type: 'button', class: 'small', id: 'sign-out', text: 'Sign out', onclick: () => {
      keys.clear();
      route();
    }}));
  }
  fill(el, ...parts);
}

/**
 * Finds out which API the key opens: a tenant key answers /v1 (outside open mode, where every call does), the
 * admin key answers /admin. One key can be only one of them.
 */
async function signIn(key) {
  const [tenant, admin] = await Promise.all([
    server.openMode ? null : send('/v1/models', {key}),
    server.adminEnabled ? send('/admin/stats', {key}) : null]);
  if (tenant && tenant.ok) {
    keys.setTenant(key);
    return 'tenant';
  }
  if (admin && admin.ok) {
    keys.setAdmin(key);
    return 'admin';
  }
  throw new ApiError(401, {param: 'key', code: 'invalid_api_key',
    message: 'The server accepts this key neither as a tenant key nor as the admin key.'});
}

function signInPanel(why, then) {
  const input = h('input', {type: 'password', id: 'sign-in-key', name: 'key', autocomplete: 'off', required: true,
    spellcheck: 'false'});
  const form = h('form', {id: 'sign-in-form', class: 'stack narrow', novalidate: true},
      field('API key', input, {param: 'key',
        hint: 'A tenant key (rk-…) for the playground and the registry, or the admin key for operations. '
            + 'It stays in this browser tab only.'}),
      h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', text: 'Sign in'})),
      h('p', {class: 'form-message', hidden: true}));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) {
      showError(form, new ApiError(400, {param: 'key', message: 'Enter a key.'}));
      return;
    }
    try {
      await signIn(key);
      input.value = '';
      then();
    } catch (e) {
      showError(form, e);
    }
  });
  return section('Sign in', why ? h('p', {text: why}) : null, form);
}

function parseHash() {
  const hash = location.hash;
  if (!hash.startsWith('#/')) {
    return null;
  }
  const [name, query] = hash.slice(2).split('?');
  return {name, params: new URLSearchParams(query || '')};
}

/** Shows the page the hash names (the default page for any other hash). */
function route() {
  const target = parseHash();
  if (stopPage) {
    stopPage();
    stopPage = null;
  }
  renderSession();
  const main = document.getElementById('main');
  const name = target && (pages[target.name] || target.name === 'sign-in') ? target.name : DEFAULT_PAGE;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === name) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
  }
  if (!server.reachable) {
    fill(main, notice('error', 'The server could not be reached. Reload the page when it is up.'));
    return;
  }
  if (name === 'sign-in') {
    document.title = 'Sign in · ReFT Server';
    fill(main, signInPanel('', () => {
      location.hash = lastPage;
    }));
  } else {
    const page = pages[name];
    lastPage = location.hash.startsWith('#/') ? location.hash : '#/' + name;
    document.title = page.title + ' · ReFT Server';
    if (page.needs === 'admin' && !server.adminEnabled) {
      fill(main, section(page.title, notice('info', 'The admin API is disabled on this server: it runs without '
          + 'an admin key (reft.security.admin-key), so there are no tenants to manage.')));
    } else if (!access[page.needs]()) {
      fill(main, signInPanel(page.needs === 'admin'
          ? 'The operations page needs the admin key.'
          : 'This server needs an API key. Sign in with a tenant key to use the ' + page.title.toLowerCase() + '.',
          route));
    } else {
      fill(main);
      const context = {server, params: target ? target.params : new URLSearchParams(), signedIn: route};
      try {
        stopPage = page.render(main, context) || null;
      } catch (e) {
        fill(main, notice('error', describe(e)));
      }
    }
  }
  if (!firstRoute) {
    main.focus();
  }
  firstRoute = false;
}

window.addEventListener('hashchange', () => {
  if (parseHash() !== null) {
    route(); // other hashes are in-page anchors (the skip link), not pages
  }
});
detect().then(route);
