// Live token states: the technician on the phone sees a repair go pending → redeemed →
// completed without reloading, on the token page (#token-state) and in the computer page's
// token list (cells marked data-live-token, the viewer's own pending tokens). Each polls
// GET /api/v1/tokens/{jti} (readable by the token's minter only) every 2 s until the state is
// final, the page is left, or the session ends. No script, no harm: a reload shows the same.
(() => {
  if (!window.fetch) return;
  const final = new Set(['completed', 'failed', 'revoked', 'expired']);
  let stopped = false;
  window.addEventListener('pagehide', () => { stopped = true; });

  // show(state) or, when the state can no longer be read, gone(why)
  const watch = (jti, show, gone) => {
    const poll = async () => {
      if (stopped) return;
      try {
        const r = await fetch('/api/v1/tokens/' + encodeURIComponent(jti), {
          credentials: 'same-origin',
          headers: { accept: 'application/json' },
          cache: 'no-store',
        });
        if (r.redirected) return gone('signed out: no longer updating');
        if (r.ok) {
          const t = await r.json();
          show(t.state);
          if (final.has(t.state)) return;
        } else if (r.status === 401 || r.status === 403 || r.status === 404) {
          return gone("no longer updating: see the computer's page");
        }
      } catch (e) {
        // The portal did not answer: try again at the next tick.
      }
      setTimeout(poll, 2000);
    };
    setTimeout(poll, 1000);
  };

  const box = document.getElementById('token-state');
  const value = document.getElementById('token-state-value');
  const note = document.getElementById('token-state-note');
  if (box && value) {
    const notes = {
      pending: '(waiting for the computer; this updates by itself)',
      redeemed: '(the new password is on the domain controller; the computer is storing it and checking its channel)',
      completed: '(done: the computer verified its channel and rotated its password; the token is spent)',
      failed: "(the client reported a failure; the computer's page says what to do next)",
      revoked: '(revoked: it can no longer be used)',
      expired: '(expired unused: mint a new one if it is still needed)',
    };
    watch(box.dataset.jti, (state) => {
      value.textContent = state;
      box.dataset.state = state;
      if (note) note.textContent = notes[state] || '';
    }, (why) => { if (note) note.textContent = '(' + why + ')'; });
  }

  document.querySelectorAll('[data-live-token]').forEach((cell) => {
    watch(cell.dataset.liveToken, (state) => {
      cell.textContent = state;
      cell.dataset.state = state;
    }, (why) => { cell.title = why; });
  });
})();
