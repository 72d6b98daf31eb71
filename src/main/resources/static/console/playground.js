// Playground: one prompt through up to four models side by side (the base model and up to three interventions
// or tasks), streamed. Each column is its own request, so the server batches them like any other callers.
// Modes are entries of MODES: completion uses /v1/completions; chat uses /v1/chat/completions and is offered
// only when the server answers that path and the model has a chat template.

import {errorOf, keys, send, v1} from './api.js';
import {readEvents} from './sse.js';
import {clearErrors, describe, empty, field, fill, formMessage, h, notice, section, showError} from './ui.js';

const COLUMNS = 4;

/** How each mode builds its request and reads a streamed chunk's text. */
const MODES = {
  completion: {
    label: 'Completion',
    path: '/v1/completions',
    body: (form, model) => ({model, prompt: form.prompt}),
    text: chunk => chunk.choices && chunk.choices[0] ? chunk.choices[0].text || '' : '',
  },
  chat: {
    label: 'Chat',
    path: '/v1/chat/completions',
    body: (form, model) => ({
      model,
      messages: (form.system ? [{role: 'system', content: form.system}] : [])
          .concat([{role: 'user', content: form.prompt}]),
    }),
    text: chunk => chunk.choices && chunk.choices[0] && chunk.choices[0].delta
        ? chunk.choices[0].delta.content || '' : '',
  },
};

/** The error code of a chat request to a model without a chat template. */
const NO_TEMPLATE = 'no_chat_template';
const NOTES = {
  offered: 'Chat sends the messages through the model\'s chat template.',
  'no-route': 'Chat mode is unavailable: this server does not offer /v1/chat/completions.',
  'no-template': 'Chat mode is unavailable: this model has no chat template; set reft.model.chat-template.',
};

/**
 * Whether chat works, without generating anything: a one-message chat with the base model asking for more tokens
 * than any context holds. A missing route answers 404 (or 405); a model without a chat template refuses it with
 * no_chat_template before the length is checked; with a template it is refused for its max_tokens.
 */
async function chatSupport(model) {
  try {
    const r = await send(MODES.chat.path, {method: 'POST', key: keys.tenant(),
      json: {model, messages: [{role: 'user', content: 'Hi'}], max_tokens: 1000000000}});
    if (r.ok) {
      return 'offered';
    }
    const e = await errorOf(r);
    if (r.status === 404 || r.status === 405) {
      return e.param === 'model' ? 'offered' : 'no-route';
    }
    if (r.status === 401 || r.status === 403) {
      return 'no-route';
    }
    return e.code === NO_TEMPLATE ? 'no-template' : 'offered';
  } catch (e) {
    return 'no-route';
  }
}

function numberInput(id, attrs) {
  return h('input', Object.assign({type: 'number', id, inputmode: 'decimal'}, attrs));
}

export default {
  title: 'Playground',
  needs: 'tenant',
  render(main, context) {
    const running = new Set();
    const prompt = h('textarea', {id: 'prompt', rows: 4, required: true, text: 'Once upon a time'});
    const system = h('textarea', {id: 'system', rows: 2});
    const systemField = field('System message', system, {param: 'messages'});
    systemField.hidden = true;
    const promptField = field('Prompt', prompt, {param: 'prompt'});
    const modeNote = h('p', {class: 'hint', id: 'chat-note', text: 'Checking whether the server offers chat…'});
    const modeRadios = Object.entries(MODES).map(([name, mode]) => h('label', {class: 'inline'},
        h('input', {type: 'radio', name: 'mode', value: name, id: 'mode-' + name, checked: name === 'completion',
          disabled: name !== 'completion', onchange: () => setMode(name)}), ' ' + mode.label));
    const selects = [];
    for (let i = 1; i <= COLUMNS; i++) {
      selects.push(h('select', {id: 'column-' + i, name: 'column-' + i}));
    }
    const sampling = {
      temperature: numberInput('temperature', {min: 0, max: 2, step: 0.1, value: '0.7'}),
      top_p: numberInput('top_p', {min: 0.01, max: 1, step: 0.01, value: '1'}),
      top_k: numberInput('top_k', {min: 0, step: 1, value: '0', inputmode: 'numeric'}),
      max_tokens: numberInput('max_tokens', {min: 1, step: 1, value: '64', inputmode: 'numeric'}),
      seed: numberInput('seed', {step: 1, placeholder: 'random', inputmode: 'numeric'}),
    };
    const runButton = h('button', {type: 'submit', class: 'primary', id: 'run', text: 'Run'});
    const stopButton = h('button', {type: 'button', id: 'stop', text: 'Stop', disabled: true,
      onclick: () => running.forEach(c => c.abort())});
    const modelsNote = h('p', {class: 'hint', id: 'models-note'});
    const form = h('form', {id: 'playground-form', class: 'stack', novalidate: true},
        h('fieldset', {class: 'row'}, h('legend', {text: 'Mode'}), ...modeRadios, modeNote),
        systemField, promptField,
        h('fieldset', {}, h('legend', {text: 'Columns'}),
            h('div', {class: 'grid4'}, ...selects.map((s, i) => field('Column ' + (i + 1), s))), modelsNote),
        h('fieldset', {}, h('legend', {text: 'Sampling'}),
            h('div', {class: 'grid5'},
                field('Temperature', sampling.temperature, {param: 'temperature', hint: '0 = greedy'}),
                field('top_p', sampling.top_p, {param: 'top_p'}),
                field('top_k', sampling.top_k, {param: 'top_k', hint: '0 = off'}),
                field('Max tokens', sampling.max_tokens, {param: 'max_tokens'}),
                field('Seed', sampling.seed, {param: 'seed', hint: 'empty = random'}))),
        h('div', {class: 'actions'}, runButton, stopButton),
        h('p', {class: 'form-message', hidden: true}));
    const results = h('div', {class: 'columns', id: 'results'});
    fill(main, h('div', {class: 'playground'}, section('Playground', form),
        h('section', {class: 'panel outputs', 'aria-labelledby': 'outputs-title'},
            h('h2', {id: 'outputs-title', text: 'Outputs'}), results)));
    fill(results, empty('Choose the columns and press Run: each column streams its own completion.'));

    let mode = 'completion';
    function setMode(name) {
      mode = name;
      document.getElementById('mode-' + name).checked = true;
      systemField.hidden = name !== 'chat';
      promptField.querySelector('label').textContent = name === 'chat' ? 'User message' : 'Prompt';
    }

    /** Enables chat mode, or disables it saying why (back to completion if it was chosen). */
    function offerChat(support) {
      const radio = document.getElementById('mode-chat');
      if (!radio) {
        return;
      }
      radio.disabled = support !== 'offered';
      modeNote.textContent = NOTES[support];
      if (radio.disabled && mode === 'chat') {
        setMode('completion');
      }
    }

    const listed = v1('/models');
    listed.then(list => {
      const models = list.data;
      const base = models.filter(m => !m.kind);
      const tasks = models.filter(m => m.kind === 'task');
      const interventions = models.filter(m => m.kind === 'intervention');
      const wanted = context.params.get('model');
      selects.forEach((select, i) => {
        const groups = [h('option', {value: '', text: '(none)'})];
        const group = (label, items) => items.length ? h('optgroup', {label},
            ...items.map(m => h('option', {value: m.id, text: m.id}))) : null;
        groups.push(group('Base model', base), group('Tasks', tasks), group('Interventions', interventions));
        fill(select, ...groups);
        if (i === 0 && base.length) {
          select.value = base[0].id;
        } else if (i === 1 && wanted && models.some(m => m.id === wanted)) {
          select.value = wanted;
        }
      });
      modelsNote.textContent = tasks.length + interventions.length === 0
          ? 'No interventions or tasks yet: upload a bundle on the Registry page to compare it with the base model.'
          : 'Base model, ' + tasks.length + ' task(s) and ' + interventions.length + ' intervention version(s).';
    }).catch(e => formMessage(form, 'error', 'Could not list the models: ' + describe(e)));

    listed.catch(() => null).then(list => {
      const base = list ? list.data.find(m => !m.kind) : null;
      return chatSupport(base ? base.id : '');
    }).then(offerChat);

    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      clearErrors(form);
      const models = selects.map(s => s.value).filter(Boolean);
      if (!models.length) {
        formMessage(form, 'error', 'Choose at least one column.');
        return;
      }
      if (!prompt.value) {
        showError(form, {param: 'prompt', message: 'Enter a prompt.'});
        return;
      }
      const params = {stream: true, stream_options: {include_usage: true}};
      for (const [name, input] of Object.entries(sampling)) {
        if (input.value !== '') {
          params[name] = Number(input.value);
        }
      }
      if (params.top_k === 0) {
        delete params.top_k;
      }
      const values = {prompt: prompt.value, system: system.value};
      fill(results);
      runButton.disabled = true;
      stopButton.disabled = false;
      const columns = models.map((model, i) => new Column(results, i, model));
      const used = mode;
      await Promise.all(columns.map(c => {
        running.add(c);
        return c.run(MODES[used], Object.assign(MODES[used].body(values, c.model), params), form)
            .finally(() => running.delete(c));
      }));
      // the probe may not have told (a failed model list): the first refusal still turns chat off
      if (used === 'chat' && columns.some(c => c.error && c.error.code === NO_TEMPLATE)) {
        offerChat('no-template');
      }
      runButton.disabled = false;
      stopButton.disabled = true;
    });

    return () => running.forEach(c => c.abort());
  },
};

/** One output column: its request, its streamed text and its numbers. */
class Column {
  constructor(parent, index, model) {
    this.model = model;
    this.controller = new AbortController();
    const id = 'col-' + (index + 1);
    this.stats = {};
    this.error = null;
    const stat = (name, label) => {
      this.stats[name] = h('dd', {id: id + '-' + name, text: '—'});
      return [h('dt', {text: label}), this.stats[name]];
    };
    this.output = h('pre', {class: 'output', id: id + '-output', tabindex: 0, 'aria-label': 'Output of ' + model});
    this.status = h('p', {class: 'column-status', id: id + '-status', role: 'status', text: 'Waiting…'});
    this.el = h('article', {class: 'column', id, 'aria-busy': 'true', 'data-model': model},
        h('h3', {text: model}),
        h('dl', {class: 'stats'}, stat('applied', 'Applied'), stat('ttft', 'TTFT'), stat('rate', 'Tokens/s'),
            stat('tokens', 'Tokens (prompt / completion)'), stat('finish', 'Finish')),
        this.output, this.status);
    parent.append(this.el);
  }

  abort() {
    this.controller.abort();
  }

  async run(mode, body, form) {
    const start = performance.now();
    let first = null;
    let usage = null;
    let finish = null;
    try {
      const r = await send(mode.path, {method: 'POST', key: keys.tenant(), json: body,
        signal: this.controller.signal});
      if (!r.ok) {
        throw await errorOf(r);
      }
      this.stats.applied.textContent = r.headers.get('X-Reft-Intervention') || '—';
      this.status.textContent = 'Streaming…';
      await readEvents(r, data => {
        if (data === '[DONE]') {
          return;
        }
        const chunk = JSON.parse(data);
        if (chunk.error) {
          throw Object.assign(new Error(chunk.error.message), chunk.error);
        }
        const text = mode.text(chunk);
        if (text) {
          if (first === null) {
            first = performance.now();
            this.stats.ttft.textContent = Math.round(first - start) + ' ms';
          }
          this.output.textContent += text;
        }
        if (chunk.choices && chunk.choices[0] && chunk.choices[0].finish_reason) {
          finish = chunk.choices[0].finish_reason;
        }
        if (chunk.usage) {
          usage = chunk.usage;
        }
      });
      const end = performance.now();
      this.stats.finish.textContent = finish || '—';
      if (usage) {
        this.stats.tokens.textContent = usage.prompt_tokens + ' / ' + usage.completion_tokens;
        // decode rate: the tokens after the first over the time after the first
        if (first !== null && usage.completion_tokens > 1 && end > first) {
          this.stats.rate.textContent = ((usage.completion_tokens - 1) / ((end - first) / 1000)).toFixed(1);
        }
      }
      this.status.textContent = 'Done in ' + Math.round(end - start) + ' ms.';
      this.el.dataset.state = 'done';
    } catch (e) {
      if (e.name === 'AbortError') {
        this.status.textContent = 'Stopped.';
        this.el.dataset.state = 'stopped';
      } else {
        this.error = e;
        this.status.replaceWith(this.status = notice('error', describe(e)));
        this.status.id = this.el.id + '-status';
        this.el.dataset.state = 'error';
        if (e.param && form.querySelector('[data-param="' + CSS.escape(e.param) + '"]')) {
          showError(form, e);
        }
      }
    } finally {
      this.el.setAttribute('aria-busy', 'false');
    }
  }
}
