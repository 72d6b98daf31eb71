// Training: upload a JSONL file of {prompt, completion} examples, start a ReFT fine-tuning job on the base model,
// follow its loss live from the job's event stream, pause, resume or cancel it, and open the version it made in the
// playground.

import {ApiError, errorOf, keys, send, v1} from './api.js';
import {readEvents} from './sse.js';
import {bytes, clearErrors, describe, empty, field, fill, formMessage, h, notice, section, showError, when}
  from './ui.js';

/** The six trainable types, as the jobs API names them (InitialBundle.TYPES). */
const TYPES = ['loreft', 'direft', 'nodireft', 'noreft', 'consreft', 'lobireft'];
/** Where the API reports a bad ReFT hyperparameter (the error's `param`). */
const HP = 'method.reft.hyperparameters.';
/** How often the job list is re-read while a job is queued or running. */
const POLL_MS = 2000;
const SVG = 'http://www.w3.org/2000/svg';

export default {
  title: 'Training',
  needs: 'tenant',
  render(main, context) {
    const jobsEl = h('div', {id: 'jobs'});
    const filesEl = h('div', {id: 'files'});
    const message = h('div', {id: 'training-message'});
    const watch = jobView();
    let files = [];
    let jobs = [];

    function say(kind, text) {
      fill(message, notice(kind, text));
    }

    async function refreshFiles(select) {
      try {
        files = (await v1('/files')).data;
        renderFiles(filesEl, files);
        start.setFiles(files, select);
      } catch (e) {
        say('error', 'Could not list the files: ' + describe(e));
      }
    }

    async function refreshJobs() {
      try {
        jobs = (await v1('/fine_tuning/jobs?limit=50')).data;
        renderJobs(jobsEl, jobs, watch.show, cancel);
      } catch (e) {
        say('error', 'Could not list the jobs: ' + describe(e));
      }
    }

    async function cancel(id) {
      await act(id, 'cancel', 'Cancelling ' + id + ': it stops within one training step.');
    }

    // cancel, pause or resume: the job as the server answers, and a line saying what happens next
    async function act(id, verb, done) {
      try {
        const job = await v1('/fine_tuning/jobs/' + encodeURIComponent(id) + '/' + verb, {method: 'POST'});
        say('ok', done);
        watch.update(job);
      } catch (e) {
        say('error', 'Cannot ' + verb + ' ' + id + ': ' + describe(e));
      }
      refreshJobs();
    }

    const upload = uploadForm(file => refreshFiles(file.id));
    const start = jobForm(job => {
      watch.show(job);
      refreshJobs();
    });
    watch.onChange = refreshJobs;
    watch.cancel = cancel;
    watch.pause = id => act(id, 'pause', 'Pausing ' + id + ': it stops after its current step, where it can resume.');
    watch.resume = id => act(id, 'resume', 'Resuming ' + id + ': it goes on where it was.');

    fill(main, h('div', {class: 'training'},
        h('div', {},
            section('Training data', upload, filesEl),
            section('New job', start.form)),
        h('div', {},
            section('Job', watch.el),
            section('Jobs', message, jobsEl))));
    refreshFiles(null);
    refreshJobs().then(() => {
      const wanted = context.params.get('job') || (jobs[0] && jobs[0].id);
      const job = jobs.find(j => j.id === wanted);
      if (job) {
        watch.show(job);
      }
    });
    // the list's states move on their own while a job is live
    const timer = setInterval(() => {
      if (jobs.some(j => !terminal(j.status))) {
        refreshJobs();
      }
    }, POLL_MS);
    return () => {
      clearInterval(timer);
      watch.stop();
    };
  },
};

function terminal(status) {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

function uploadForm(uploaded) {
  const file = h('input', {type: 'file', id: 'train-file', name: 'file', accept: '.jsonl,.json,.txt',
    required: true});
  const form = h('form', {id: 'file-form', class: 'stack', novalidate: true},
      field('Examples (.jsonl)', file, {param: 'file',
        hint: 'One {"prompt": ..., "completion": ...} object per line. The server checks every line.'}),
      h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'upload-file',
        text: 'Upload file'})),
      h('p', {class: 'form-message', hidden: true}));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(form);
    if (!file.files.length) {
      showError(form, new ApiError(400, {param: 'file', message: 'Choose a JSONL file.'}));
      return;
    }
    const data = new FormData();
    data.append('purpose', 'fine-tune');
    data.append('file', file.files[0]);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const r = await send('/v1/files', {method: 'POST', key: keys.tenant(), body: data});
      if (!r.ok) {
        throw await errorOf(r);
      }
      const f = await r.json();
      form.reset();
      formMessage(form, 'ok', 'Stored ' + f.id + ' (' + f.filename + '): ' + f.examples
          + (f.examples === 1 ? ' example.' : ' examples.'));
      uploaded(f);
    } catch (e) {
      showError(form, e);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function renderFiles(el, files) {
  if (!files.length) {
    fill(el, empty('No training files yet. Upload one above to start a job.'));
    return;
  }
  fill(el, h('div', {class: 'table-wrap'}, h('table', {id: 'files-table'},
      h('caption', {class: 'sr-only', text: 'Training files'}),
      h('thead', {}, h('tr', {}, ...['File', 'Examples', 'Size', 'Uploaded']
          .map(t => h('th', {scope: 'col', text: t})))),
      h('tbody', {}, ...files.map(f => h('tr', {'data-id': f.id},
          h('th', {scope: 'row'}, f.filename, h('br'), h('code', {class: 'muted small-id', text: f.id})),
          h('td', {text: f.examples}), h('td', {class: 'nowrap', text: bytes(f.bytes)}),
          h('td', {class: 'nowrap', text: when(f.created_at)})))))));
}

/** A number control; an empty one is left out of the request (the server's default applies). */
function numberInput(id, attrs) {
  return h('input', Object.assign({type: 'number', id, inputmode: 'decimal'}, attrs));
}

/** Layers as typed ("3", "1, 3", "all") to what the API takes; anything else is sent as typed, for it to refuse. */
function layersValue(text) {
  const t = text.trim();
  if (t === '' || t === 'all') {
    return t || undefined;
  }
  const parts = t.split(/[\s,]+/).filter(Boolean);
  return parts.every(p => /^\d+$/.test(p)) ? parts.map(Number) : t;
}

function jobForm(started) {
  const trainingFile = h('select', {id: 'job-file', name: 'training_file'});
  const validationFile = h('select', {id: 'job-validation-file', name: 'validation_file'},
      h('option', {value: '', text: '(none)'}));
  const suffix = h('input', {type: 'text', id: 'job-suffix', autocomplete: 'off', placeholder: 'e.g. whale'});
  const type = h('select', {id: 'job-type'}, ...TYPES.map(t => h('option', {value: t, text: t})));
  const layers = h('input', {type: 'text', id: 'job-layers', autocomplete: 'off', placeholder: 'middle layer'});
  const rank = numberInput('job-rank', {min: 1, step: 1, value: '4', inputmode: 'numeric'});
  const positions = h('input', {type: 'text', id: 'job-positions', autocomplete: 'off', value: 'f1+l1'});
  const epochs = numberInput('job-epochs', {min: 1, step: 1, value: '10', inputmode: 'numeric'});
  const maxSteps = numberInput('job-max-steps', {min: 1, step: 1, placeholder: 'epochs decide',
    inputmode: 'numeric'});
  const lr = numberInput('job-lr', {min: 0, step: 'any', value: '0.004'});
  const seed = numberInput('job-seed', {step: 1, placeholder: '42', inputmode: 'numeric'});
  const form = h('form', {id: 'job-form', class: 'stack', novalidate: true},
      h('div', {class: 'grid2'},
          field('Training file', trainingFile, {param: 'training_file'}),
          field('Validation file', validationFile, {param: 'validation_file',
            hint: 'Held-out examples, scored at the end of each epoch.'}),
          field('Suffix', suffix, {param: 'suffix', hint: 'Names the new intervention; each job adds a version.'}),
          field('Intervention type', type, {param: HP + 'intervention_type'}),
          field('Layers', layers, {param: HP + 'layers', hint: 'e.g. 3, or 1, 3, or all'}),
          field('Rank', rank, {param: HP + 'rank'}),
          field('Positions', positions, {param: HP + 'positions', hint: 'fN, lN or fN+lN of the prompt'}),
          field('Epochs', epochs, {param: HP + 'n_epochs'}),
          field('Max steps', maxSteps, {param: HP + 'max_steps', hint: 'empty = epochs x batches'}),
          field('Learning rate', lr, {param: HP + 'learning_rate'}),
          field('Seed', seed, {param: 'seed'})),
      h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'start-job',
        text: 'Start training'})),
      h('p', {class: 'form-message', hidden: true}));
  let baseModel = null;
  v1('/models').then(list => {
    const base = list.data.find(m => !m.kind);
    baseModel = base ? base.id : null;
  }).catch(e => formMessage(form, 'error', 'Could not list the models: ' + describe(e)));

  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(form);
    if (!trainingFile.value) {
      showError(form, new ApiError(400, {param: 'training_file', message: 'Upload a training file first.'}));
      return;
    }
    const hp = {intervention_type: type.value};
    const put = (name, value) => {
      if (value !== undefined && value !== '') {
        hp[name] = value;
      }
    };
    put('layers', layersValue(layers.value));
    put('rank', rank.value === '' ? '' : Number(rank.value));
    put('positions', positions.value.trim());
    put('n_epochs', epochs.value === '' ? '' : Number(epochs.value));
    put('max_steps', maxSteps.value === '' ? '' : Number(maxSteps.value));
    put('learning_rate', lr.value === '' ? '' : Number(lr.value));
    const body = {model: baseModel, training_file: trainingFile.value, method: {type: 'reft',
      reft: {hyperparameters: hp}}};
    if (validationFile.value) {
      body.validation_file = validationFile.value;
    }
    if (suffix.value.trim()) {
      body.suffix = suffix.value.trim();
    }
    if (seed.value !== '') {
      body.seed = Number(seed.value);
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const job = await v1('/fine_tuning/jobs', {method: 'POST', json: body});
      formMessage(form, 'ok', 'Started ' + job.id + '.');
      started(job);
    } catch (e) {
      showError(form, e);
    } finally {
      button.disabled = false;
    }
  });

  function setFiles(files, select) {
    const current = select || trainingFile.value;
    fill(trainingFile, files.length ? files.map(f => h('option', {value: f.id, text: f.filename + ' (' + f.examples
        + ' examples, ' + f.id + ')'})) : h('option', {value: '', text: '(no files yet)'}));
    if (current && files.some(f => f.id === current)) {
      trainingFile.value = current;
    }
    const held = validationFile.value;
    fill(validationFile, h('option', {value: '', text: '(none)'}), ...files.map(f => h('option', {value: f.id,
      text: f.filename + ' (' + f.examples + ' examples, ' + f.id + ')'})));
    if (held && files.some(f => f.id === held)) {
      validationFile.value = held;
    }
  }
  return {form, setFiles};
}

function renderJobs(el, jobs, show, cancel) {
  if (!jobs.length) {
    fill(el, empty('No jobs yet. Upload a file and start one: its loss is drawn here as it trains.'));
    return;
  }
  fill(el, h('div', {class: 'table-wrap'}, h('table', {id: 'jobs-table'},
      h('caption', {class: 'sr-only', text: 'Fine-tuning jobs, newest first'}),
      h('thead', {}, h('tr', {}, ...['Job', 'Status', 'Result', 'Created', 'Actions']
          .map(t => h('th', {scope: 'col', text: t})))),
      h('tbody', {}, ...jobs.map(j => h('tr', {'data-id': j.id, 'data-status': j.status},
          h('th', {scope: 'row'}, h('code', {text: j.id}), j.suffix ? h('span', {class: 'muted', text: ' ' + j.suffix})
              : null),
          h('td', {}, h('span', {class: 'state ' + j.status, text: j.status})),
          h('td', {}, j.fine_tuned_model ? h('a', {href: '#/playground?model=' + encodeURIComponent(j.fine_tuned_model),
            'aria-label': 'Open ' + j.fine_tuned_model + ' in the playground', text: j.fine_tuned_model}) : '—'),
          h('td', {class: 'nowrap', text: when(j.created_at)}),
          h('td', {class: 'row-actions'},
              h('button', {type: 'button', class: 'small', text: 'Show', 'aria-label': 'Show ' + j.id,
                onclick: () => show(j)}),
              terminal(j.status) ? null : h('button', {type: 'button', class: 'small danger', text: 'Cancel',
                'aria-label': 'Cancel ' + j.id, onclick: () => cancel(j.id)}))))))));
}

function playgroundLink(model) {
  return h('a', {class: 'button', href: '#/playground?model=' + encodeURIComponent(model),
    text: 'Open ' + model + ' in the playground'});
}

/**
 * The job being watched: its state, a loss chart fed by GET /v1/fine_tuning/jobs/{id}/events?stream=true (the
 * events so far, then each new one), the points as a table (readable without the chart), and its messages.
 */
function jobView() {
  const title = h('h3', {id: 'job-title'});
  const state = h('p', {id: 'job-status', role: 'status'});
  const actions = h('div', {class: 'actions', id: 'job-actions'});
  const chart = lossChart();
  const rows = h('tbody', {});
  const table = h('details', {class: 'points'}, h('summary', {text: 'Loss by step'}),
      h('div', {class: 'table-wrap'}, h('table', {id: 'loss-table'},
          h('thead', {}, h('tr', {}, ...['Step', 'Training loss', 'Validation loss', 'Full validation loss',
            'Learning rate']
              .map(t => h('th', {scope: 'col', text: t})))), rows)));
  const checkpointList = h('ul', {class: 'plain', id: 'job-checkpoints'});
  const checkpoints = h('section', {hidden: true, 'aria-labelledby': 'job-checkpoints-title'},
      h('h4', {id: 'job-checkpoints-title', text: 'Checkpoints'}), checkpointList);
  const log = h('ol', {class: 'plain log', id: 'job-log', 'aria-label': 'Job events'});
  const body = h('div', {id: 'job', hidden: true}, title, state, actions, chart.el, table, checkpoints, log);
  const none = empty('Start a job, or choose Show in the list below, to follow its loss.');
  const el = h('div', {}, none, body);
  let controller = null;
  let current = null;

  const view = {
    el,
    onChange: () => {},
    cancel: () => {},
    pause: () => {},
    resume: () => {},
    stop() {
      if (controller) {
        controller.abort();
        controller = null;
      }
    },
    show(job) {
      view.stop();
      current = job.id;
      none.hidden = true;
      body.hidden = false;
      body.dataset.job = job.id;
      title.textContent = job.id + (job.suffix ? ' (' + job.suffix + ')' : '');
      chart.reset(job.method.reft.hyperparameters.max_steps);
      fill(rows);
      fill(log);
      fill(checkpointList);
      checkpoints.hidden = true;
      view.update(job);
      follow(job.id);
    },
    update(job) {
      if (job.id !== current) {
        return;
      }
      const hp = job.method.reft.hyperparameters;
      body.dataset.status = job.status;
      fill(state, h('span', {class: 'state ' + job.status, text: job.status}), ' ', hp.intervention_type
          + ', layers ' + hp.layers.join(', ') + ', rank ' + hp.rank + ', positions ' + hp.positions + ', '
          + hp.max_steps + ' steps at learning rate ' + hp.learning_rate
          + (job.trained_tokens !== null && job.trained_tokens !== undefined ? ', ' + job.trained_tokens
              + ' tokens trained' : '')
          + (job.estimated_finish ? '; should finish about ' + when(job.estimated_finish) : ''));
      // The buttons are rebuilt only when what they offer changes: rebuilt under the pointer, a click could be lost.
      const key = [job.id, job.status, job.fine_tuned_model, job.error && job.error.message].join('\n');
      if (actions.dataset.key === key) {
        return;
      }
      actions.dataset.key = key;
      const parts = [];
      if (job.fine_tuned_model) {
        parts.push(playgroundLink(job.fine_tuned_model));
      }
      if (job.status === 'running' || job.status === 'queued') {
        parts.push(h('button', {type: 'button', id: 'pause-job', text: 'Pause', onclick: () => view.pause(job.id)}));
      }
      if (job.status === 'paused') {
        parts.push(h('button', {type: 'button', id: 'resume-job', text: 'Resume',
          onclick: () => view.resume(job.id)}));
      }
      if (!terminal(job.status)) {
        parts.push(h('button', {type: 'button', class: 'danger', id: 'cancel-job', text: 'Cancel job',
          onclick: () => view.cancel(job.id)}));
      }
      if (job.error) {
        parts.push(notice('error', job.error.message + (job.error.code ? ' (' + job.error.code + ')' : '')));
      }
      fill(actions, ...parts);
    },
  };

  async function refresh(id) {
    try {
      view.update(await v1('/fine_tuning/jobs/' + encodeURIComponent(id)));
      showCheckpoints(id, (await v1('/fine_tuning/jobs/' + encodeURIComponent(id) + '/checkpoints')).data);
    } catch (e) {
      delete actions.dataset.key;
      fill(actions, notice('error', describe(e)));
    }
    view.onChange();
  }

  /** The job's checkpoints still kept, newest first, each one click away in the playground. */
  function showCheckpoints(id, list) {
    if (id !== current) {
      return;
    }
    checkpoints.hidden = list.length === 0;
    fill(checkpointList, ...list.map(c => h('li', {'data-step': c.step_number},
        'Step ' + c.step_number + (c.metrics.train_loss == null ? '' : ', training loss '
            + c.metrics.train_loss.toFixed(4)) + ' ', playgroundLink(c.fine_tuned_model_checkpoint))));
  }

  async function follow(id) {
    const c = controller = new AbortController();
    try {
      const r = await send('/v1/fine_tuning/jobs/' + encodeURIComponent(id) + '/events?stream=true',
          {key: keys.tenant(), signal: c.signal});
      if (!r.ok) {
        throw await errorOf(r);
      }
      await readEvents(r, data => {
        if (data === '[DONE]') {
          return;
        }
        const e = JSON.parse(data);
        if (e.type === 'metrics') {
          chart.add(e.data);
          rows.append(h('tr', {'data-step': e.data.step}, h('td', {text: e.data.step}),
              h('td', {class: 'loss', text: String(e.data.train_loss)}),
              h('td', {class: 'valid-loss', text: e.data.valid_loss == null ? '' : String(e.data.valid_loss)}),
              h('td', {class: 'full-valid-loss',
                text: e.data.full_valid_loss == null ? '' : String(e.data.full_valid_loss)}),
              h('td', {text: String(e.data.learning_rate)})));
        } else {
          log.append(h('li', {}, h('span', {class: 'muted', text: when(e.created_at) + ' '}), e.message));
          refresh(id); // a message marks a change of state
        }
      });
      refresh(id);
    } catch (e) {
      if (e.name !== 'AbortError') {
        delete actions.dataset.key;
        fill(actions, notice('error', 'Lost the job\'s events: ' + describe(e)));
      }
    } finally {
      if (controller === c) {
        controller = null;
      }
    }
  }
  return view;
}

/**
 * Training loss against step as a plain SVG, and with a validation file each step's validation loss (its batch of
 * the file) as a dashed second line: the x axis spans the job's steps, the y axis the losses so far with a little
 * room either side, on round ticks (yScale). A 0-based axis would flatten the drops that matter, such as 8.1 to 7.4.
 * Each point is a circle carrying its step and loss (class train, data-loss; class valid, data-valid-loss); the svg
 * carries the axis' range as data-y-min and data-y-max.
 */
function lossChart() {
  const W = 640;
  const H = 260;
  const pad = {left: 48, right: 16, top: 14, bottom: 34};
  const svg = svgEl('svg', {viewBox: '0 0 ' + W + ' ' + H, class: 'loss-chart', id: 'loss-chart', role: 'img',
    'aria-label': 'Training loss by step'});
  const grid = svgEl('g', {class: 'grid'});
  const line = svgEl('polyline', {class: 'line'});
  const dots = svgEl('g', {class: 'dots'});
  const validLine = svgEl('polyline', {class: 'line valid'});
  const validDots = svgEl('g', {class: 'dots'});
  const legend = svgEl('g', {class: 'legend', visibility: 'hidden'},
      svgEl('line', {x1: W - 250, x2: W - 230, y1: 10, y2: 10, class: 'line'}),
      svgEl('text', {x: W - 225, y: 14}, 'training'),
      svgEl('line', {x1: W - 160, x2: W - 140, y1: 10, y2: 10, class: 'line valid'}),
      svgEl('text', {x: W - 135, y: 14}, 'validation (batch)'));
  svg.append(grid, line, validLine, dots, validDots, legend, svgEl('text', {x: pad.left + (W - pad.left - pad.right) / 2, y: H - 4,
    class: 'axis-title', 'text-anchor': 'middle'}, 'step'), svgEl('text', {x: 12, y: pad.top + (H - pad.top
      - pad.bottom) / 2, class: 'axis-title', 'text-anchor': 'middle', transform: 'rotate(-90 12 '
      + (pad.top + (H - pad.top - pad.bottom) / 2) + ')'}, 'loss'));
  const summary = h('p', {class: 'hint', id: 'loss-summary', 'aria-live': 'polite', text: 'No steps yet.'});
  let points = [];
  let total = 1;

  function draw() {
    const valid = points.filter(p => Number.isFinite(p.valid_loss));
    const scale = yScale([...points.map(p => p.train_loss), ...valid.map(p => p.valid_loss)]);
    const x = step => pad.left + (W - pad.left - pad.right) * (total <= 1 ? 0.5 : (step - 1) / (total - 1));
    const y = loss => pad.top + (H - pad.top - pad.bottom) * (1 - (loss - scale.min) / (scale.max - scale.min));
    grid.replaceChildren();
    for (const v of scale.ticks) {
      grid.append(svgEl('line', {x1: pad.left, x2: W - pad.right, y1: y(v), y2: y(v)}),
          svgEl('text', {x: pad.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'y-tick'},
              v.toFixed(scale.decimals)));
    }
    svg.dataset.yMin = String(scale.min);
    svg.dataset.yMax = String(scale.max);
    for (const s of ticks(total)) {
      grid.append(svgEl('text', {x: x(s), y: H - pad.bottom + 16, 'text-anchor': 'middle'}, String(s)));
    }
    line.setAttribute('points', points.map(p => x(p.step).toFixed(1) + ',' + y(p.train_loss).toFixed(1)).join(' '));
    dots.replaceChildren(...points.map(p => svgEl('circle', {class: 'train', cx: x(p.step), cy: y(p.train_loss),
      r: 3.5, 'data-step': p.step, 'data-loss': p.train_loss}, svgEl('title', {}, 'step ' + p.step + ': loss '
        + p.train_loss.toFixed(4)))));
    validLine.setAttribute('points', valid.map(p => x(p.step).toFixed(1) + ',' + y(p.valid_loss).toFixed(1))
        .join(' '));
    validDots.replaceChildren(...valid.map(p => svgEl('circle', {class: 'valid', cx: x(p.step), cy: y(p.valid_loss),
      r: 3, 'data-step': p.step, 'data-valid-loss': p.valid_loss}, svgEl('title', {}, 'step ' + p.step
        + ': validation loss ' + p.valid_loss.toFixed(4)))));
    legend.setAttribute('visibility', valid.length ? 'visible' : 'hidden');
    svg.setAttribute('aria-label', valid.length ? 'Training and validation loss by step' : 'Training loss by step');
    svg.dataset.points = String(points.length);
    const last = points[points.length - 1];
    summary.textContent = last ? 'Step ' + last.step + ' of ' + total + ': loss ' + last.train_loss.toFixed(4)
        + (points.length > 1 ? ' (from ' + points[0].train_loss.toFixed(4) + ' at step ' + points[0].step + ')' : '')
        + (Number.isFinite(last.valid_loss) ? ', validation loss ' + last.valid_loss.toFixed(4) : '')
        + ', learning rate ' + last.learning_rate.toExponential(2) + '.' : 'No steps yet.';
  }

  return {
    el: h('div', {class: 'chart'}, svg, summary),
    reset(steps) {
      points = [];
      total = Math.max(1, steps || 1);
      draw();
    },
    add(point) {
      points.push(point);
      total = Math.max(total, point.total_steps || point.step);
      draw();
    },
  };
}

/** At most about eight step labels, always the first and the last. */
function ticks(total) {
  const every = Math.max(1, Math.ceil(total / 8));
  const out = [];
  for (let s = 1; s < total; s += every) {
    out.push(s);
  }
  out.push(total);
  return out;
}

/**
 * The loss axis: from a little below the lowest loss to a little above the highest, widened to whole steps of
 * 1, 2 or 5 x 10^k so that it has about four round ticks; never below 0, as no loss is. A single value gets a
 * band around it, so it sits mid-chart; no value at all gets 0 to 1. {@code decimals} writes every tick distinctly.
 */
export function yScale(losses) {
  const finite = losses.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  const room = !finite.length ? 0 : hi > lo ? (hi - lo) * 0.1 : Math.max(Math.abs(hi) * 0.05, 0.05);
  lo = lo >= 0 ? Math.max(0, lo - room) : lo - room;
  hi += room;
  const step = niceStep((hi - lo) / 4);
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks = [];
  for (let i = 0; min + i * step <= max + step / 2; i++) {
    ticks.push(Number((min + i * step).toFixed(decimals)));
  }
  return {min: Number(min.toFixed(decimals)), max: Number(max.toFixed(decimals)), ticks, decimals};
}

/** The smallest of 1, 2, 5 x 10^k at or above {@code v}. */
function niceStep(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  return [1, 2, 5, 10].map(m => m * p).find(c => c >= v * (1 - 1e-9));
}

function svgEl(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    el.setAttribute(name, String(value));
  }
  for (const c of children) {
    el.append(c instanceof Node ? c : document.createTextNode(c));
  }
  return el;
}
