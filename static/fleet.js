// Live progress of a fleet scan: poll while it runs, reload when it has finished.
(() => {
  const box = document.getElementById('fleet-progress');
  if (!box) return;
  const bar = document.getElementById('fleet-bar');
  const status = document.getElementById('fleet-status');
  const fmt = (s) => (s >= 90 ? `${Math.round(s / 60)} min` : `${s} s`);
  let wasRunning = box.dataset.state === 'running';
  const poll = async () => {
    let p = null;
    try {
      const r = await fetch(box.dataset.url, { credentials: 'same-origin' });
      if (r.ok) p = await r.json();
    } catch (_) { /* try again next tick */ }
    if (p) {
      bar.hidden = false;
      bar.max = Math.max(p.estimate || 0, p.scanned, 1);
      bar.value = p.scanned;
      let text = `Scan ${p.scan_id} (${p.state}): ${p.scanned}`;
      if (p.estimate) text += ` of about ${p.estimate}`;
      text += ` computers, ${Math.round(p.rate)}/s`;
      if (p.state === 'running' && p.eta_secs != null) text += `, about ${fmt(p.eta_secs)} left`;
      if (p.dc) text += ` (from ${p.dc})`;
      if (p.error) text += ` — ${p.error}`;
      status.textContent = text;
      if (p.state === 'running') wasRunning = true;
      else if (wasRunning) { window.location.reload(); return; }
    }
    if (wasRunning || (p && p.state === 'running')) setTimeout(poll, 500);
  };
  if (wasRunning) poll();
  const form = document.getElementById('start-scan');
  if (form) form.addEventListener('submit', () => { wasRunning = true; });
})();
