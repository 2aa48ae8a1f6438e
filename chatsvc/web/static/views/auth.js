// The signed-out screens. Each form calls its action (login, signup, createTeam: the
// app's REST calls) and hands the {user, token[, team]} answer to onSession.

import { $ } from './dom.js';

const LAST_TEAM_KEY = 'chatsvc.lastTeam';

export function initAuth({ login, signup, createTeam, onSession, errorText }) {
  const view = $('#auth-view');
  const error = $('#auth-error');
  const tabs = [...view.querySelectorAll('[data-tab]')];

  function selectTab(name) {
    for (const t of tabs) t.setAttribute('aria-pressed', String(t.dataset.tab === name));
    for (const p of view.querySelectorAll('[data-tab-panel]')) p.hidden = p.dataset.tabPanel !== name;
    error.textContent = '';
  }
  for (const t of tabs) t.addEventListener('click', () => selectTab(t.dataset.tab));

  function values(form) {
    return Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, k === 'password' ? v : String(v).trim()]));
  }

  function handle(form, call, after) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const data = values(form);
      const missing = [...form.elements].find((f) => f.required && !data[f.name]);
      if (missing) {
        error.textContent = `Please fill in “${form.querySelector(`label[for="${missing.id}"]`)?.textContent || missing.name}”.`;
        missing.focus();
        return;
      }
      const button = form.querySelector('[type=submit]');
      button.disabled = true;
      error.textContent = '';
      try {
        const res = await call(data);
        localStorage.setItem(LAST_TEAM_KEY, data.team || data.name || '');
        form.reset();
        await onSession(res, after ? after(res, data) : {});
      } catch (e) {
        error.textContent = errorText(e);
      } finally {
        button.disabled = false;
      }
    });
  }

  handle($('#login-form'), login);
  handle($('#signup-form'), signup);
  handle($('#create-form'), createTeam, (res) => ({ team: res.team }));

  return {
    show(message = '') {
      view.hidden = false;
      const lastTeam = localStorage.getItem(LAST_TEAM_KEY) || '';
      if (lastTeam && !$('#login-team').value) $('#login-team').value = lastTeam;
      selectTab('login');
      error.textContent = message;
      $('#login-team').value ? $('#login-username').focus() : $('#login-team').focus();
    },
    hide() { view.hidden = true; },
  };
}
