// The token page's live state: the technician on the phone sees the repair go
// pending → redeemed → completed without reloading. Polls GET /api/v1/tokens/{jti} (readable by
// the token's minter only) every 2 s until the state is final, the page is left, or the
// session ends. No script, no harm: the computer's page lists the same state.
(() => {
  const box = document.getElementById('token-state');
  const value = document.getElementById('token-state-value');
  const note = document.getElementById('token-state-note');
  if (!box || !value || !window.fetch) return;
  const notes = {
    pending: '(waiting for the computer; this updates by itself)',
    redeemed: '(the new password is on the domain controller; the computer is storing it and checking its channel)',
    completed: '(done: the computer verified its channel and rotated its password; the token is spent)',
    failed: '(the client reported a failure; the computer\'s page says what to do next)',
    revoked: '(revoked: it can no longer be used)',
    expired: '(expired unused: mint a new one if it is still needed)',
  };
  const final = new Set(['completed', 'failed', 'revoked', 'expired']);
  let stopped = false;
  window.addEventListener('pagehide', () => { stopped = true; });
  const poll = async () => {
    if (stopped) return;
    try {
      const r = await fetch('/api/v1/tokens/' + encodeURIComponent(box.dataset.jti), {
        credentials: 'same-origin',
        headers: { accept: 'application/json' },
        cache: 'no-store',
      });
      if (r.redirected) {
        if (note) note.textContent = '(signed out: no longer updating)';
        return;
      }
      if (r.ok) {
        const t = await r.json();
        value.textContent = t.state;
        box.dataset.state = t.state;
        if (note) note.textContent = notes[t.state] || '';
        if (final.has(t.state)) return;
      } else if (r.status === 401 || r.status === 403 || r.status === 404) {
        if (note) note.textContent = '(no longer updating: see the computer\'s page)';
        return;
      }
    } catch (e) {
      // The portal did not answer: try again at the next tick.
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 1000);
})();
